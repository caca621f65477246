//! Talking to a facilitator over HTTP, minus the HTTP: which endpoint, which headers, how to read its answer,
//! when to ask again, and how to name it in an error. Every language's facilitator client sends the bytes
//! these functions describe and reads the bytes back through them.

use crate::prelude::*;
use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::types::{SettleResponse, SupportedResponse, VerifyResponse};

/// The public x402.org facilitator (test networks only).
pub const DEFAULT_URL: &str = "https://x402.org/facilitator";
/// Seconds to wait for an answer, as the official clients do: settling waits for a transaction.
pub const DEFAULT_TIMEOUT_SECONDS: f64 = 90.0;

/// A facilitator endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// `POST /verify`.
    Verify,
    /// `POST /settle`.
    Settle,
    /// `GET /supported`.
    Supported,
}

impl Endpoint {
    /// `verify`, `settle` or `supported`.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Verify => "verify",
            Endpoint::Settle => "settle",
            Endpoint::Supported => "supported",
        }
    }

    /// The HTTP method.
    pub fn method(self) -> &'static str {
        if self == Endpoint::Supported { "GET" } else { "POST" }
    }

    /// The member every answer of this endpoint has, which tells an answer from an error page.
    fn member(self) -> &'static str {
        match self {
            Endpoint::Verify => "isValid",
            Endpoint::Settle => "success",
            Endpoint::Supported => "kinds",
        }
    }

    /// The endpoint's URL under a facilitator's base URL (a query on the base, such as an API key, is kept).
    pub fn url(self, base: &str) -> String {
        match url::Url::parse(base) {
            Ok(mut u) => {
                let path = format!("{}/{}", u.path().trim_end_matches('/'), self.as_str());
                u.set_path(&path);
                u.to_string()
            }
            Err(_) => format!("{}/{}", base.trim_end_matches('/'), self.as_str()),
        }
    }
}

/// A URL as errors and logs may show it: scheme, host, port and path, never credentials or a query (which
/// often carries an API key).
pub fn redact_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}{}", u.scheme(), u.host_str().unwrap_or(""), u.path())
        }
        Err(_) => "(an invalid URL)".into(),
    }
}

/// The extra request headers for one endpoint out of what a user configured: a flat object of headers for
/// every endpoint, or an object keyed by endpoint (`verify`, `settle`, `supported`, or `list` for supported,
/// as the official SDKs' `createAuthHeaders` returns).
pub fn headers_for(configured: &Value, endpoint: Endpoint) -> Result<Vec<(String, String)>> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let object = match configured {
        Value::Null => return Ok(Vec::new()),
        Value::Object(o) => o,
        other => {
            return Err(Error::new(
                ErrorCode::InvalidArgument,
                format!(
                    "facilitator headers must be an object, an object keyed by endpoint, or a function returning one; \
                     found {}",
                    crate::wire::kind(other)
                ),
            ));
        }
    };
    if !object.is_empty() && object.values().all(Value::is_object) {
        let chosen = object
            .get(endpoint.as_str())
            .or_else(|| if endpoint == Endpoint::Supported { object.get("list") } else { None })
            .and_then(Value::as_object);
        return Ok(chosen.map_or_else(Vec::new, |c| c.iter().map(|(k, v)| (k.clone(), text(v))).collect()));
    }
    Ok(object.iter().map(|(k, v)| (k.clone(), text(v))).collect())
}

/// `text` with every URL in it redacted: an HTTP library's error message may name the URL it failed on,
/// credentials and query included.
pub fn scrub_urls(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let Some(i) = word.find("://") else { return word.to_string() };
            let start = word[..i].rfind(|c: char| !c.is_ascii_alphabetic()).map_or(0, |p| p + 1);
            if start == i {
                return word.to_string();
            }
            let end = word[i..].find([')', ']', '"', '\'', ',', ';']).map_or(word.len(), |e| i + e);
            format!("{}{}{}", &word[..start], redact_url(&word[start..end]), &word[end..])
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether an HTTP answer carries the endpoint's x402 answer: any 2xx, or a 4xx whose JSON body has the
/// endpoint's member (a refusal sent with a 4xx status). A 5xx is the facilitator failing.
fn usable(endpoint: Endpoint, status: u16, body: &str) -> Result<()> {
    let usable = (200..300).contains(&status)
        || (400..500).contains(&status)
            && serde_json::from_str::<Value>(body).is_ok_and(|v| v.get(endpoint.member()).is_some());
    if usable {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidFacilitatorResponse,
            format!("the facilitator's /{} answered HTTP {status} without an x402 answer", endpoint.as_str()),
        ))
    }
}

/// Reads a `/verify` answer.
pub fn read_verify(status: u16, body: &str) -> Result<VerifyResponse> {
    usable(Endpoint::Verify, status, body)?;
    VerifyResponse::from_json(body)
}

/// Reads a `/settle` answer.
pub fn read_settle(status: u16, body: &str) -> Result<SettleResponse> {
    usable(Endpoint::Settle, status, body)?;
    SettleResponse::from_json(body)
}

/// Reads a `/supported` answer.
pub fn read_supported(status: u16, body: &str) -> Result<SupportedResponse> {
    usable(Endpoint::Supported, status, body)?;
    SupportedResponse::from_json(body)
}

/// How many times a facilitator client asks again when a call got no answer at all (the connection closed
/// before a single byte came back: a pooled connection the facilitator had closed, or an answer lost on the
/// way). Once: `/verify` has no effect, and `/settle` of one authorization is idempotent at the facilitator,
/// which the gate relies on anyway (it asks `/settle` again for every retry of an open outcome). A timeout is
/// not retried: the facilitator may still be working on it.
pub const RETRIES_WITHOUT_ANSWER: u32 = 1;

/// Whether to ask `/settle` once more with the same body: the facilitator broadcast the settlement and named
/// its transaction but could not confirm it yet (the official servers ask again; a second ask reconciles
/// against that transaction, it never pays twice).
pub fn settle_again(answer: &SettleResponse) -> bool {
    answer.is_pending() && !answer.transaction.is_empty()
}

/// The error of a facilitator that could not be reached (`timed_out`: it did not answer within
/// `timeout_seconds`), naming it by its redacted URL.
pub fn unreachable(base: &str, endpoint: Endpoint, timed_out: bool, timeout_seconds: f64, detail: &str) -> Error {
    let what = if timed_out {
        format!("did not answer within {timeout_seconds} s")
    } else {
        format!("could not be reached ({})", crate::wire::truncate(&scrub_urls(detail)))
    };
    Error::new(
        ErrorCode::FacilitatorUnreachable,
        format!("the facilitator at {} {what}", redact_url(&endpoint.url(base))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_by_status() {
        assert!(read_verify(200, r#"{"isValid":true,"payer":"0x1"}"#).unwrap().is_valid);
        assert!(!read_verify(400, r#"{"isValid":false,"invalidReason":"x"}"#).unwrap().is_valid);
        for (status, body) in [(400, r#"{"error":"bad"}"#), (500, r#"{"isValid":true}"#), (404, "<html>")] {
            assert_eq!(read_verify(status, body).unwrap_err().code(), ErrorCode::InvalidFacilitatorResponse);
        }
        let pending = read_settle(
            200,
            r#"{"success":false,"errorReason":"settlement_pending","transaction":"0xab","network":"n"}"#,
        )
        .unwrap();
        assert!(settle_again(&pending));
        let no_tx =
            read_settle(200, r#"{"success":false,"errorReason":"settlement_pending","transaction":"","network":"n"}"#)
                .unwrap();
        assert!(!settle_again(&no_tx));
    }

    #[test]
    fn urls_and_headers() {
        assert_eq!(redact_url("https://user:pw@f.example:8443/x402/?key=s"), "https://f.example:8443/x402/");
        assert_eq!(Endpoint::Settle.url("https://f.example/x/"), "https://f.example/x/settle");
        assert_eq!(Endpoint::Verify.url("https://f.example?k=1"), "https://f.example/verify?k=1");
        let flat = json!({"Authorization": "Bearer t"});
        assert_eq!(headers_for(&flat, Endpoint::Verify).unwrap(), vec![("Authorization".into(), "Bearer t".into())]);
        let keyed = json!({"verify": {"A": "1"}, "list": {"B": 2}});
        assert_eq!(headers_for(&keyed, Endpoint::Verify).unwrap(), vec![("A".into(), "1".into())]);
        assert_eq!(headers_for(&keyed, Endpoint::Supported).unwrap(), vec![("B".into(), "2".into())]);
        assert!(headers_for(&keyed, Endpoint::Settle).unwrap().is_empty());
        assert!(headers_for(&json!("x"), Endpoint::Verify).is_err());
        let e = unreachable("https://f.example/?apikey=s", Endpoint::Verify, true, 90.0, "");
        assert_eq!(e.message(), "the facilitator at https://f.example/verify did not answer within 90 s");
        let e = unreachable(
            "https://f.example",
            Endpoint::Settle,
            false,
            90.0,
            "error sending request for url (https://u:p@rpc.example/v2/KEY?k=1): reset",
        );
        assert_eq!(
            e.message(),
            "the facilitator at https://f.example/settle could not be reached (error sending request for url \
             (https://rpc.example/v2/KEY): reset)"
        );
    }
}
