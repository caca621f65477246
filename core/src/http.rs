//! HTTP pieces both exchange machines need: header lists, a response, and the caching and CORS headers x402
//! answers carry. No I/O: the glue of each language moves these to and from its framework.

use crate::prelude::*;

/// Header pairs in order, names in any letter case; a name may repeat.
pub type Headers = Vec<(String, String)>;

/// Response headers a browser client must be allowed to read (`Access-Control-Expose-Headers`).
pub const EXPOSED_HEADERS: &str = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, X-PAYMENT-RESPONSE";

/// Request headers a browser client sends (add them to a CORS policy's allowed headers).
pub const ALLOWED_HEADERS: &str = "PAYMENT-SIGNATURE, X-PAYMENT, X-PAYWIRE-RECEIPT";

/// The `Cache-Control` of a 402 and of every answer about a payment: never cached (as the official servers).
pub const NO_STORE: &str = "no-store";

/// An HTTP response, whole.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: Headers,
    /// The body (empty when none may be sent, e.g. for HEAD, 204 and 304).
    pub body: Vec<u8>,
}

/// The first value of header `name` (any letter case).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// Removes every `name` header.
pub fn remove(headers: &mut Headers, name: &str) {
    headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
}

/// Replaces every `name` header with one `name: value` (the name in lower case, as HTTP/2 sends it).
pub fn set(headers: &mut Headers, name: &str, value: impl Into<String>) {
    remove(headers, name);
    headers.push((name.to_ascii_lowercase(), value.into()));
}

/// Adds `private` to `Cache-Control`, keeping paid content out of shared caches.
pub fn make_private(headers: &mut Headers) {
    let current = header(headers, "cache-control").map(str::to_string);
    match current {
        Some(c) if c.split(',').any(|d| d.trim().eq_ignore_ascii_case("private")) => {}
        Some(c) if !c.trim().is_empty() => set(headers, "cache-control", format!("{c}, private")),
        _ => set(headers, "cache-control", "private"),
    }
}

/// Adds the x402 headers to `Access-Control-Expose-Headers`, keeping what the app exposes.
pub fn expose_x402(headers: &mut Headers) {
    let existing: Vec<String> = headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("access-control-expose-headers"))
        .map(|(_, v)| v.clone())
        .collect();
    let mut all = existing;
    all.push(EXPOSED_HEADERS.to_string());
    set(headers, "access-control-expose-headers", all.join(", "));
}

/// Whether a status may carry a body (1xx, 204 and 304 may not).
pub fn status_has_body(status: u16) -> bool {
    !(status < 200 || status == 204 || status == 304)
}

/// The response as it goes out: the app's framing headers replaced by a `Content-Length` of the body actually
/// sent, no body (and no length) where none may go, and no body for HEAD (where the app's length, as for GET,
/// is kept).
pub fn frame(mut response: Response, head: bool) -> Response {
    let app_length = header(&response.headers, "content-length").map(str::to_string);
    remove(&mut response.headers, "content-length");
    remove(&mut response.headers, "transfer-encoding");
    if !status_has_body(response.status) {
        response.body.clear();
    } else if head {
        let length = if response.body.is_empty() { app_length } else { Some(response.body.len().to_string()) };
        if let Some(length) = length {
            response.headers.push(("content-length".into(), length));
        }
        response.body.clear();
    } else {
        response.headers.push(("content-length".into(), response.body.len().to_string()));
    }
    response
}

/// A JSON answer `{"error": code, "message": message}` that no cache keeps.
pub fn json_answer(status: u16, code: &str, message: &str) -> Response {
    let body = serde_json::json!({ "error": code, "message": message }).to_string().into_bytes();
    Response {
        status,
        headers: vec![("content-type".into(), "application/json".into()), ("cache-control".into(), NO_STORE.into())],
        body,
    }
}

/// Whether a header value is x402's base64 (a header) rather than raw JSON text (a body or a decoded value).
pub fn looks_like_json(text: &str) -> bool {
    matches!(text.trim_start().as_bytes().first(), Some(b'{') | Some(b'['))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&str, &str)]) -> Headers {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn caching_and_cors_headers() {
        let mut x = h(&[("Cache-Control", "max-age=60")]);
        make_private(&mut x);
        assert_eq!(header(&x, "cache-control"), Some("max-age=60, private"));
        make_private(&mut x);
        assert_eq!(header(&x, "cache-control"), Some("max-age=60, private"));
        let mut y = h(&[("Access-Control-Expose-Headers", "X-A")]);
        expose_x402(&mut y);
        assert_eq!(y, h(&[("access-control-expose-headers", &format!("X-A, {EXPOSED_HEADERS}"))]));
    }

    #[test]
    fn framing() {
        let r = Response {
            status: 200,
            headers: h(&[("Content-Length", "99"), ("transfer-encoding", "chunked")]),
            body: b"abc".to_vec(),
        };
        assert_eq!(frame(r.clone(), false).headers, h(&[("content-length", "3")]));
        let head = frame(Response { body: vec![], ..r.clone() }, true);
        assert_eq!((head.headers, head.body.len()), (h(&[("content-length", "99")]), 0));
        let none = frame(Response { status: 204, ..r }, false);
        assert!(none.headers.is_empty() && none.body.is_empty());
        assert!(looks_like_json(" {\"a\":1}") && !looks_like_json("eyJh"));
    }
}
