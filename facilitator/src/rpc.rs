//! JSON-RPC to one chain over several node URLs: every call has a deadline, a node that cannot be reached
//! is skipped for the next, and no error ever carries a URL (real RPC URLs hold API keys).

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::transports::{RpcError as TransportRpcError, TransportErrorKind};

/// What went wrong with a JSON-RPC call, in words that never include the node's URL.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RpcError {
    /// The node answered with an error, e.g. a revert; the node's own words.
    #[error("{method}: the node refused: {message}")]
    Refused {
        /// The JSON-RPC method.
        method: &'static str,
        /// The node's error message (a revert's reason included).
        message: String,
    },
    /// No node answered in time, or none could be reached: the outcome of a write is unknown.
    #[error("{method}: {what}")]
    Unreachable {
        /// The JSON-RPC method.
        method: &'static str,
        /// What happened, e.g. "node 1 of 2 timed out after 10 s".
        what: String,
    },
    /// The node answered something unreadable.
    #[error("{method}: unreadable answer: {what}")]
    Unreadable {
        /// The JSON-RPC method or decoded call.
        method: &'static str,
        /// Why it could not be read.
        what: String,
    },
}

impl RpcError {
    /// Whether the node refused because the call reverts (as opposed to failing itself).
    pub fn is_revert(&self) -> bool {
        match self {
            RpcError::Refused { message, .. } => message.to_ascii_lowercase().contains("revert"),
            _ => false,
        }
    }

    fn refused_for(&self, words: &[&str]) -> bool {
        match self {
            RpcError::Refused { message, .. } => {
                // "AlreadyKnown", "NONCE_TOO_LOW": clients spell the same refusal differently.
                let m: String = message.to_ascii_lowercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
                words.iter().any(|w| m.contains(w))
            }
            _ => false,
        }
    }

    /// Whether the node refused a transaction it already holds (an idempotent rebroadcast).
    pub fn is_already_known(&self) -> bool {
        self.refused_for(&["alreadyknown", "alreadyimported", "alreadyexists", "knowntransaction"])
    }

    /// Whether a transaction was refused because its nonce was used already.
    pub fn is_nonce_too_low(&self) -> bool {
        self.refused_for(&["noncetoolow", "oldnonce"])
    }

    /// Whether a node's refusal of a transaction is certain to mean it keeps none of it: a rule the
    /// transaction breaks, not a failure of the node or of a gateway in front of it (which may have passed the
    /// transaction on before failing).
    pub fn is_definite_refusal(&self) -> bool {
        self.is_nonce_too_low()
            || self.refused_for(&[
                "insufficientfunds",
                "underpriced",
                "intrinsicgastoolow",
                "exceedsblockgaslimit",
                "gaslimitreached",
                "feecaplessthanblockbasefee",
                "maxfeepergaslessthanblockbasefee",
                "invalidsender",
                "invalidchainid",
                "oversizeddata",
                "nonceexceeds",
                "noncetoohigh",
            ])
    }
}

/// `text` with every URL in it replaced by `<url>`: a gateway's error message may name the node behind it,
/// API key included.
pub fn scrub_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = ["http://", "https://", "ws://", "wss://"].iter().filter_map(|s| rest.find(s)).min() {
        out.push_str(&rest[..at]);
        out.push_str("<url>");
        let tail = &rest[at..];
        let end =
            tail.find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ')' | ',' | '>')).unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// A readable description of a transport failure that leaves out the URL (reqwest's errors name it).
fn describe(error: &TransportRpcError<TransportErrorKind>) -> Result<String, String> {
    match error {
        TransportRpcError::ErrorResp(payload) => {
            Ok(format!("{} (code {})", scrub_urls(&payload.message), payload.code))
        }
        TransportRpcError::Transport(TransportErrorKind::HttpError(http)) => {
            Err(format!("the node answered HTTP {}", http.status))
        }
        TransportRpcError::Transport(_) => Err("the node could not be reached".into()),
        TransportRpcError::NullResp => Err("the node answered null".into()),
        TransportRpcError::DeserError { .. } => Err("the node's answer is not JSON-RPC".into()),
        other => Err(format!("the call failed ({})", variant(other))),
    }
}

fn variant(error: &TransportRpcError<TransportErrorKind>) -> &'static str {
    match error {
        TransportRpcError::SerError(_) => "request encoding",
        TransportRpcError::UnsupportedFeature(_) => "unsupported",
        TransportRpcError::LocalUsageError(_) => "local usage",
        _ => "other",
    }
}

/// The nodes of one chain, tried in order from the last one that answered.
pub struct Rpc {
    nodes: Vec<DynProvider>,
    preferred: AtomicUsize,
    timeout: Duration,
}

impl Rpc {
    /// Nodes at `urls` (at least one), each call bounded by `timeout`. A URL that does not parse is named
    /// by its position only.
    pub fn new(urls: &[String], timeout: Duration) -> Result<Self, String> {
        if urls.is_empty() {
            return Err("no RPC URL".into());
        }
        let mut nodes = Vec::with_capacity(urls.len());
        for (i, url) in urls.iter().enumerate() {
            let url = url.parse().map_err(|_| format!("RPC URL {} of {} is not a URL", i + 1, urls.len()))?;
            nodes.push(ProviderBuilder::new().disable_recommended_fillers().connect_http(url).erased());
        }
        Ok(Rpc { nodes, preferred: AtomicUsize::new(0), timeout })
    }

    /// How many node URLs there are.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Always false: an `Rpc` has at least one node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Runs `call` against the nodes in turn, from the preferred one, until one answers. A revert is an
    /// answer. A node that times out, cannot be reached, or refuses for another reason (a rate limit, a
    /// block it lacks) passes the call to the next; when every node refused, the last refusal is the error.
    pub async fn call<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, RpcError>
    where
        F: Fn(DynProvider) -> Fut,
        Fut: Future<Output = Result<T, TransportRpcError<TransportErrorKind>>>,
    {
        let n = self.nodes.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut failures = Vec::new();
        let mut refused = None;
        for step in 0..n {
            let i = (first + step) % n;
            match tokio::time::timeout(self.timeout, call(self.nodes[i].clone())).await {
                Ok(Ok(value)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(value);
                }
                Ok(Err(error)) => match describe(&error) {
                    Ok(message) => {
                        let error = RpcError::Refused { method, message };
                        if error.is_revert() {
                            self.preferred.store(i, Ordering::Relaxed);
                            return Err(error);
                        }
                        refused = Some(error);
                    }
                    Err(what) => failures.push(format!("node {} of {n}: {what}", i + 1)),
                },
                Err(_) => {
                    failures.push(format!("node {} of {n} timed out after {} s", i + 1, self.timeout.as_secs_f32()))
                }
            }
        }
        Err(refused.unwrap_or(RpcError::Unreachable { method, what: failures.join("; ") }))
    }

    /// Broadcasts a signed transaction to every node in turn until one takes it. `Ok` when a node took it or
    /// already had it; `Refused` only when every node refused it for a rule it breaks
    /// ([`RpcError::is_definite_refusal`]); `Unreachable` otherwise (a node could not be asked, or failed in a
    /// way that may have passed the transaction on), so the transaction may be in a pool.
    pub async fn broadcast(&self, raw: &[u8]) -> Result<(), RpcError> {
        let n = self.nodes.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut refused = None;
        let mut unknown = Vec::new();
        for step in 0..n {
            let i = (first + step) % n;
            let node = self.nodes[i].clone();
            match tokio::time::timeout(self.timeout, node.send_raw_transaction(raw)).await {
                Ok(Ok(_)) => return Ok(()),
                Ok(Err(error)) => match describe(&error) {
                    Ok(message) => {
                        let error = RpcError::Refused { method: "eth_sendRawTransaction", message };
                        if error.is_already_known() {
                            return Ok(());
                        }
                        if error.is_definite_refusal() {
                            refused = Some(error);
                        } else {
                            unknown.push(format!("node {} of {n}: {error}", i + 1));
                        }
                    }
                    Err(what) => unknown.push(format!("node {} of {n}: {what}", i + 1)),
                },
                Err(_) => {
                    unknown.push(format!("node {} of {n} timed out after {} s", i + 1, self.timeout.as_secs_f32()))
                }
            }
        }
        if !unknown.is_empty() {
            return Err(RpcError::Unreachable { method: "eth_sendRawTransaction", what: unknown.join("; ") });
        }
        Err(refused.unwrap_or(RpcError::Unreachable { method: "eth_sendRawTransaction", what: "no node".into() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_scrubbed_from_node_messages() {
        assert_eq!(
            scrub_urls("upstream https://base.example/v2/SECRET failed (see http://x/y?k=1), retry"),
            "upstream <url> failed (see <url>), retry"
        );
        assert_eq!(scrub_urls("execution reverted: no"), "execution reverted: no");
        assert_eq!(scrub_urls("wss://a"), "<url>");
    }

    #[test]
    fn refusals_are_read_in_every_client_spelling() {
        let refused = |m: &str| RpcError::Refused { method: "eth_sendRawTransaction", message: m.into() };
        assert!(refused("AlreadyKnown").is_already_known());
        assert!(refused("Known transaction: 0xab").is_already_known());
        assert!(refused("NONCE_TOO_LOW").is_nonce_too_low());
        assert!(refused("OldNonce").is_definite_refusal());
        assert!(refused("replacement transaction underpriced").is_definite_refusal());
        assert!(!refused("internal error").is_definite_refusal());
        assert!(!refused("upstream request timeout").is_definite_refusal());
    }
}
