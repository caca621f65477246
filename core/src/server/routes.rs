//! Which requests are priced: route patterns, matched so that a request the web framework would route to a
//! priced handler is never taken for a free one.
//!
//! Frameworks disagree on what reaches a handler: Express ignores letter case and a trailing slash, Express
//! matches the percent-encoded path while Starlette matches the decoded one, servlet containers drop `;`
//! path parameters, some collapse `//`. A gate that matches more narrowly than its framework serves paid
//! content for free. So a request is matched in every form a framework might route it in, and it is priced
//! when any form matches. Matching too widely only bills a request the framework then answers with a 404,
//! which is never settled (nothing is charged for an answer of 400 or more).

use crate::error::{Error, ErrorCode, Result};
use crate::prelude::*;

/// The longest path that is matched; a longer one is priced whenever any route could be priced (fail closed).
pub const MAX_MATCHED_PATH: usize = 8 * 1024;

/// One piece of a route pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    /// Text that must appear as it is.
    Literal(String),
    /// One path segment, at least one character, no `/` (`{name}`, `:name`, `{name:int}`).
    Segment,
    /// Anything, including `/` and nothing at all (`*`, `{name:path}`).
    Rest,
}

/// A route pattern: `"[METHOD] /path"`. In the path, `{name}` and `:name` match one segment, `{name:path}`
/// and `*` match the rest (any characters, `/` included). Without a method it matches every method.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoutePattern {
    method: Option<String>,
    tokens: Vec<Token>,
    text: String,
}

impl RoutePattern {
    /// Parses `"GET /weather/{city}"`, `"/files/*"`, `"POST /orders/:id"`.
    pub fn parse(pattern: &str) -> Result<Self> {
        let text = pattern.trim();
        let (method, path) = match text.rsplit_once(' ') {
            Some((m, p)) => (Some(m.trim().to_ascii_uppercase()), p),
            None => (None, text),
        };
        let bad = |why: &str| {
            Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "route {:?} {why}; write it as \"[METHOD] /path\", e.g. \"GET /weather/{{city}}\"",
                    crate::wire::truncate(pattern)
                ),
            )
        };
        if !path.starts_with('/') {
            return Err(bad("has no path starting with /"));
        }
        if let Some(m) = &method
            && (m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphabetic()))
        {
            return Err(bad("has a method that is not a word"));
        }
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = path;
        while let Some(c) = rest.chars().next() {
            if c == '*' {
                push_literal(&mut tokens, &mut literal);
                tokens.push(Token::Rest);
                rest = &rest[1..];
            } else if c == '{' {
                let end = rest.find('}').ok_or_else(|| bad("has a { without its }"))?;
                let inner = &rest[1..end];
                if inner.is_empty() || inner.contains(['/', '{']) {
                    return Err(bad("has an empty or malformed {parameter}"));
                }
                push_literal(&mut tokens, &mut literal);
                let converter = inner.split_once(':').map(|(_, c)| c.trim());
                tokens.push(if converter == Some("path") { Token::Rest } else { Token::Segment });
                rest = &rest[end + 1..];
            } else if c == ':'
                && literal.ends_with('/')
                && rest[1..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                let name_len = rest[1..].find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(rest.len() - 1);
                push_literal(&mut tokens, &mut literal);
                tokens.push(Token::Segment);
                rest = &rest[1 + name_len..];
            } else {
                literal.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        push_literal(&mut tokens, &mut literal);
        Ok(RoutePattern { method: method.filter(|m| m != "*" && m != "ALL"), tokens, text: text.to_string() })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The method it is limited to (upper case), if any.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }

    /// Whether a request method falls under the pattern's. HEAD is routed as GET by every framework, so a
    /// priced GET route covers HEAD (which is billed, never charged).
    pub fn covers_method(&self, method: &str) -> bool {
        match &self.method {
            None => true,
            Some(m) => m.eq_ignore_ascii_case(method) || (m == "GET" && method.eq_ignore_ascii_case("HEAD")),
        }
    }

    fn matches_path(&self, path: &str, case_sensitive: bool) -> bool {
        glob(&self.tokens, path.as_bytes(), case_sensitive)
    }
}

fn push_literal(tokens: &mut Vec<Token>, literal: &mut String) {
    if !literal.is_empty() {
        tokens.push(Token::Literal(core::mem::take(literal)));
    }
}

/// Matches the tokens against the whole of `path` (iteratively, with one backtracking point per `Rest`, as
/// glob matchers do; `Segment` is matched greedily up to the next `/` boundary that lets the rest match).
fn glob(tokens: &[Token], path: &[u8], case_sensitive: bool) -> bool {
    fn literal_at(lit: &[u8], path: &[u8], at: usize, cs: bool) -> bool {
        path.len() >= at + lit.len()
            && if cs { &path[at..at + lit.len()] == lit } else { path[at..at + lit.len()].eq_ignore_ascii_case(lit) }
    }
    // Dynamic programming over (token, position): small inputs (patterns are short, paths capped).
    let n = path.len();
    let mut reach = vec![false; n + 1];
    reach[0] = true;
    for token in tokens {
        let mut next = vec![false; n + 1];
        match token {
            Token::Literal(lit) => {
                let lit = lit.as_bytes();
                for at in 0..=n {
                    if reach[at] && literal_at(lit, path, at, case_sensitive) {
                        next[at + lit.len()] = true;
                    }
                }
            }
            Token::Segment => {
                for (at, _) in reach.iter().enumerate().take(n).filter(|(_, r)| **r) {
                    let mut end = at;
                    while end < n && path[end] != b'/' {
                        end += 1;
                        next[end] = true;
                    }
                }
            }
            Token::Rest => {
                let mut any = false;
                for at in 0..=n {
                    any |= reach[at];
                    next[at] = any;
                }
            }
        }
        reach = next;
    }
    reach[n]
}

/// How a gate matches paths to its patterns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouteMatching {
    /// Letter case counts (Starlette, Fastify, Flask and the JDK route this way). Off by default: Express and
    /// Hono ignore case unless configured otherwise, and matching without case only ever bills more.
    pub case_sensitive: bool,
}

/// The forms a framework might route a request path in: as sent, percent-decoded (with and without `%2F`),
/// with `//` collapsed and dot segments resolved, without `;` parameters, with and without a trailing slash.
pub fn path_forms(path: &str) -> Vec<String> {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut decoded = vec![path.to_string()];
    let full = percent_encoding::percent_decode_str(path).decode_utf8_lossy().into_owned();
    decoded.push(full);
    decoded.push(decode_keeping_slashes(path));
    let mut forms: Vec<String> = Vec::new();
    let mut add = |form: String| {
        if !forms.contains(&form) {
            forms.push(form);
        }
    };
    for d in decoded {
        let mut bases = vec![d.clone(), normalise(&d)];
        let without_params = strip_params(&d);
        if without_params != d {
            bases.push(normalise(&without_params));
        }
        for base in bases {
            let base = if base.starts_with('/') { base } else { format!("/{base}") };
            let trimmed = base.trim_end_matches('/');
            add(if trimmed.is_empty() { "/".to_string() } else { trimmed.to_string() });
            add(format!("{trimmed}/"));
            add(base);
        }
    }
    forms
}

/// Percent-decodes everything but an encoded `/` (`%2F`) or `\` (`%5C`), which stay within their segment.
fn decode_keeping_slashes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for (i, piece) in path.split("%2F").flat_map(|p| p.split("%2f")).enumerate() {
        if i > 0 {
            out.push_str("%2F");
        }
        out.push_str(&percent_encoding::percent_decode_str(piece).decode_utf8_lossy());
    }
    out
}

/// Collapses repeated `/` and resolves `.` and `..` segments (RFC 3986 section 5.2.4).
fn normalise(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && out.len() > 1 {
        out.push('/');
    }
    out
}

/// Drops `;name=value` parameters from every segment (servlet containers route `/a;x=1` as `/a`).
fn strip_params(path: &str) -> String {
    path.split('/').map(|s| s.split(';').next().unwrap_or("")).collect::<Vec<_>>().join("/")
}

/// Priced routes in the order they were given; the first that matches a request wins.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    patterns: Vec<RoutePattern>,
    matching: RouteMatching,
}

impl RouteTable {
    /// A table of patterns.
    pub fn new(patterns: Vec<RoutePattern>, matching: RouteMatching) -> Self {
        RouteTable { patterns, matching }
    }

    /// The patterns.
    pub fn patterns(&self) -> &[RoutePattern] {
        &self.patterns
    }

    /// The index of the priced route a request falls under, or `None` when it is free. `path` is the path as
    /// the framework's router sees it (after any mount prefix), percent-encoded as sent. OPTIONS (a CORS
    /// preflight) is always free.
    pub fn route_for(&self, method: &str, path: &str) -> Option<usize> {
        if method.eq_ignore_ascii_case("OPTIONS") {
            return None;
        }
        let candidates: Vec<usize> =
            (0..self.patterns.len()).filter(|&i| self.patterns[i].covers_method(method)).collect();
        if candidates.is_empty() {
            return None;
        }
        if path.len() > MAX_MATCHED_PATH {
            // Too long to match cheaply: bill it under the first route it could be (fail closed).
            return candidates.first().copied();
        }
        let forms = path_forms(path);
        candidates
            .into_iter()
            .find(|&i| forms.iter().any(|f| self.patterns[i].matches_path(f, self.matching.case_sensitive)))
    }
}

impl RouteTable {
    /// The index of the priced route covering a framework's own route, given as its pattern text
    /// (`/weather/:city`, `/files/*`): the framework's pattern is matched as if it were a path, so a priced
    /// `/weather/{city}` covers the framework's `/weather/:city`, and a priced `/api/*` every route under
    /// `/api/`.
    pub fn route_for_pattern(&self, method: &str, framework_pattern: &str) -> Option<usize> {
        if method.eq_ignore_ascii_case("OPTIONS") || framework_pattern.len() > MAX_MATCHED_PATH {
            return None;
        }
        let trimmed = framework_pattern.trim_end_matches('/');
        let forms = [framework_pattern, if trimmed.is_empty() { "/" } else { trimmed }];
        (0..self.patterns.len()).find(|&i| {
            self.patterns[i].covers_method(method)
                && forms.iter().any(|f| self.patterns[i].matches_path(f, self.matching.case_sensitive))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(patterns: &[&str], case_sensitive: bool) -> RouteTable {
        RouteTable::new(
            patterns.iter().map(|p| RoutePattern::parse(p).unwrap()).collect(),
            RouteMatching { case_sensitive },
        )
    }

    #[test]
    fn patterns_parse() {
        let p = RoutePattern::parse("get /weather/{city}").unwrap();
        assert_eq!(p.method(), Some("GET"));
        assert_eq!(p.tokens, vec![Token::Literal("/weather/".into()), Token::Segment]);
        let p = RoutePattern::parse("/files/{rest:path}").unwrap();
        assert_eq!(p.method(), None);
        assert_eq!(p.tokens.last(), Some(&Token::Rest));
        let p = RoutePattern::parse("POST /orders/:id/items").unwrap();
        assert_eq!(p.tokens[1], Token::Segment);
        assert_eq!(RoutePattern::parse("/a:b").unwrap().tokens, vec![Token::Literal("/a:b".into())]);
        for bad in ["weather", "GET weather", "GET /a/{", "GET /a/{}", "G3T /a"] {
            assert_eq!(RoutePattern::parse(bad).unwrap_err().code(), ErrorCode::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn variants_a_framework_routes_are_priced() {
        let t = table(&["GET /a", "GET /dear", "/files/:name", "GET /api/*"], false);
        for path in [
            "/a",
            "/A",
            "/a/",
            "/A/",
            "//a",
            "/a//",
            "/%61",
            "/./a",
            "/x/../a",
            "/a;jsessionid=1",
            "/DEAR",
            "/dear/",
            "/a?x=1",
            "/files/x",
            "/files/a%2Fb",
            "/FILES/x/",
            "/api/",
            "/api/x/y",
            "/api//x",
            "/API/x",
        ] {
            assert!(t.route_for("GET", path).is_some(), "{path} must be priced");
        }
        assert_eq!(t.route_for("HEAD", "/a"), Some(0));
        assert_eq!(t.route_for("OPTIONS", "/a"), None);
        assert_eq!(t.route_for("POST", "/a"), None);
        assert_eq!(t.route_for("POST", "/files/x"), Some(2));
        // `/api` is billed under `/api/*`: some routers (Hono) route it there, and billing a free page only asks
        // for a payment the page never settles.
        assert!(t.route_for("GET", "/api").is_some());
        for path in ["/b", "/ab", "/a/b", "/files", "/files/", "/de%61r2"] {
            assert!(t.route_for("GET", path).is_none(), "{path} is free");
        }
    }

    #[test]
    fn framework_patterns() {
        let t = table(&["GET /weather/{city}", "GET /api/*", "GET /fixed"], false);
        assert_eq!(t.route_for_pattern("GET", "/weather/:city"), Some(0));
        assert_eq!(t.route_for_pattern("HEAD", "/api/*splat"), Some(1));
        assert_eq!(t.route_for_pattern("GET", "/api/users/:id"), Some(1));
        assert_eq!(t.route_for_pattern("GET", "/fixed/"), Some(2));
        assert_eq!(t.route_for_pattern("GET", "/weather"), None);
        assert_eq!(t.route_for_pattern("POST", "/fixed"), None);
    }

    #[test]
    fn case_sensitive_routers() {
        let t = table(&["GET /a"], true);
        assert!(t.route_for("GET", "/a/").is_some());
        assert!(t.route_for("GET", "/A").is_none());
    }

    #[test]
    fn newlines_and_long_paths_do_not_escape() {
        let t = table(&["GET /api/*", "GET /x/{id}"], false);
        assert!(t.route_for("GET", "/api/a\nb").is_some());
        assert!(t.route_for("GET", "/api/%0Ab").is_some());
        assert!(t.route_for("GET", &format!("/b{}", "a".repeat(MAX_MATCHED_PATH))).is_some());
        assert!(t.route_for("POST", &format!("/b{}", "a".repeat(MAX_MATCHED_PATH))).is_none());
    }

    #[test]
    fn segments_do_not_span_slashes() {
        let t = table(&["GET /x/{id}/y"], false);
        assert!(t.route_for("GET", "/x/1/y").is_some());
        assert!(t.route_for("GET", "/x/1/2/y").is_none());
        assert!(t.route_for("GET", "/x//y").is_none());
    }
}
