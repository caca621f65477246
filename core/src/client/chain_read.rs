//! What a paying client reads from a chain, through a JSON-RPC endpoint the user names: for the
//! `eip2612GasSponsoring` extension, the token's Permit2 allowance (enough already: no permit) and the payer's
//! EIP-2612 nonce (the permit must carry it). The core builds each `eth_call` and reads its answer; the glue
//! only sends the bytes, like any other request of the paying machine.

use crate::prelude::*;

use alloy_primitives::{Address, U256, hex};
use alloy_sol_types::{SolCall, sol};

use super::fetch::FetchRequest;
use crate::error::{Error, ErrorCode, Result};

sol! {
    /// ERC-20 `allowance(owner, spender)`.
    function allowance(address owner, address spender) external view returns (uint256);
    /// EIP-2612 `nonces(owner)`.
    function nonces(address owner) external view returns (uint256);
}

/// A payment that may carry an EIP-2612 permit for Permit2: the server declared `eip2612GasSponsoring`, the
/// offer the payer chose moves its token through Permit2, and the offer names the token's EIP-712 domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sponsorship {
    /// The offer's network (CAIP-2, `eip155:<chain id>`).
    pub network: String,
    /// The token.
    pub token: Address,
    /// The payer.
    pub owner: Address,
    /// What Permit2 must be allowed to move: the offer's amount (for `upto`, its maximum).
    pub amount: U256,
}

/// JSON-RPC endpoints by network (`eip155:<chain id>` → `http(s)` URL), checked once when a client is built.
/// An endpoint's URL often carries an API key: paywire never puts it in an error or a log line of its own, and
/// this type's `Debug` shows the networks only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct RpcEndpoints(Vec<(String, String)>);

impl core::fmt::Debug for RpcEndpoints {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The networks only: a URL may hold a credential.
        f.debug_list().entries(self.0.iter().map(|(network, _)| network)).finish()
    }
}

impl RpcEndpoints {
    /// Checks each `(network, url)`: the network must be `eip155:<chain id>` and the URL absolute `http(s)`.
    pub fn new<I, N, U>(endpoints: I) -> Result<RpcEndpoints>
    where
        I: IntoIterator<Item = (N, U)>,
        N: Into<String>,
        U: Into<String>,
    {
        let mut checked: Vec<(String, String)> = Vec::new();
        for (network, url) in endpoints {
            let (given, url) = (network.into(), url.into());
            let digits =
                given.strip_prefix("eip155:").filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
            let Some(chain) = digits.and_then(|id| id.parse::<u64>().ok()) else {
                // Not echoed: a URL given in the network's place would show its key.
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    "an RPC endpoint's network must be written eip155:<chain id> (a bill's network), mapped to its URL",
                ));
            };
            // As a bill writes it, so "eip155:08453" finds the offers of eip155:8453.
            let network = format!("eip155:{chain}");
            let parsed = url::Url::parse(&url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
            let Some(parsed) = parsed else {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!("the RPC endpoint given for {network} is not an absolute http(s) URL"),
                ));
            };
            // Credentials before the host would go out in an Authorization header of the HTTP stack's making,
            // and some stacks refuse such URLs outright (with the URL in their error).
            if !parsed.username().is_empty() || parsed.password().is_some() {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!(
                        "the RPC endpoint given for {network} carries a user name or password before its host; \
                         put the provider's key where it documents it (its path or query)"
                    ),
                ));
            }
            if checked.iter().any(|(n, _)| *n == network) {
                return Err(Error::new(
                    ErrorCode::InvalidArgument,
                    format!("two RPC endpoints are given for {network}; give one per network"),
                ));
            }
            // The URL as checked, in the form every HTTP stack parses alike.
            checked.push((network, parsed.into()));
        }
        Ok(RpcEndpoints(checked))
    }

    /// Whether no endpoint is known.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks with an endpoint.
    pub fn networks(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(n, _)| n.as_str())
    }

    /// The endpoint for `network`.
    pub fn url(&self, network: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == network).map(|(_, u)| u.as_str())
    }
}

/// The `eth_call` of `allowance(owner, Permit2)` on the sponsorship's token, sent to `url`.
pub fn allowance_request(url: &str, s: &Sponsorship) -> FetchRequest {
    let data = allowanceCall { owner: s.owner, spender: crate::assets::PERMIT2_ADDRESS }.abi_encode();
    eth_call(url, s.token, &data)
}

/// The `eth_call` of `nonces(owner)` on the sponsorship's token, sent to `url`.
pub fn nonce_request(url: &str, s: &Sponsorship) -> FetchRequest {
    eth_call(url, s.token, &noncesCall { owner: s.owner }.abi_encode())
}

fn eth_call(url: &str, to: Address, data: &[u8]) -> FetchRequest {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": 1,
        "method": "eth_call",
        "params": [{"to": to.to_checksum(None), "data": format!("0x{}", hex::encode(data))}, "latest"],
    });
    FetchRequest {
        method: "POST".into(),
        url: url.into(),
        // Identity: an answer is read no further than a limit, which a compressed body could hide behind.
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept-encoding".into(), "identity".into()),
        ],
        body: Some(body.to_string().into_bytes()),
    }
}

/// The `uint256` an `eth_call` answered, or `None` for an error answer, a revert or anything unreadable
/// (a token without `nonces`, a broken endpoint): the payment then goes on without a permit.
pub fn read_uint(body: &[u8]) -> Option<U256> {
    let answer: serde_json::Value = serde_json::from_slice(body).ok()?;
    let result = answer.get("result")?.as_str()?;
    let bytes = hex::decode(result.strip_prefix("0x").unwrap_or(result)).ok()?;
    // A view function returning one uint256 answers exactly one word.
    if bytes.len() != 32 {
        return None;
    }
    Some(U256::from_be_slice(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::address;

    fn sponsorship() -> Sponsorship {
        Sponsorship {
            network: "eip155:84532".into(),
            token: address!("036CbD53842c5426634e7929541eC2318f3dCF7e"),
            owner: address!("1111111111111111111111111111111111111111"),
            amount: U256::from(10_000u64),
        }
    }

    #[test]
    fn calls_are_the_abi_encodings_of_allowance_and_nonces() {
        let s = sponsorship();
        let allowance = allowance_request("http://rpc.test/", &s);
        let body: serde_json::Value = serde_json::from_slice(allowance.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["method"], "eth_call");
        assert_eq!(body["params"][0]["to"], "0x036CbD53842c5426634e7929541eC2318f3dCF7e");
        assert_eq!(body["params"][1], "latest");
        let data = body["params"][0]["data"].as_str().unwrap();
        // allowance(address,address) = 0xdd62ed3e; spender = the canonical Permit2.
        assert!(data.starts_with("0xdd62ed3e0000000000000000000000001111111111111111111111111111111111111111"));
        assert!(data.ends_with("000000000022d473030f116ddee9f6b43ac78ba3"), "{data}");
        let nonce = nonce_request("http://rpc.test/", &s);
        let body: serde_json::Value = serde_json::from_slice(nonce.body.as_deref().unwrap()).unwrap();
        // nonces(address) = 0x7ecebe00.
        assert_eq!(
            body["params"][0]["data"],
            "0x7ecebe000000000000000000000000001111111111111111111111111111111111111111"
        );
        assert_eq!(nonce.method, "POST");
    }

    #[test]
    fn answers_are_read_as_one_word_or_not_at_all() {
        let word = format!("0x{:064x}", 7);
        assert_eq!(
            read_uint(format!(r#"{{"jsonrpc":"2.0","id":1,"result":"{word}"}}"#).as_bytes()),
            Some(U256::from(7))
        );
        for bad in [
            r#"{"jsonrpc":"2.0","id":1,"result":"0x"}"#,
            r#"{"jsonrpc":"2.0","id":1,"error":{"code":3,"message":"execution reverted"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"0x12"}"#,
            r#"{"result":"zz"}"#,
            "not json",
        ] {
            assert_eq!(read_uint(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn endpoints_are_checked_and_never_shown() {
        let secret = "https://rpc.example/v2/SECRET-KEY";
        let endpoints = RpcEndpoints::new([("eip155:8453", secret)]).unwrap();
        assert_eq!(endpoints.url("eip155:8453"), Some(secret));
        assert!(!format!("{endpoints:?}").contains("SECRET"));
        let e = RpcEndpoints::new([("base", secret)]).unwrap_err();
        assert!(!e.message().contains("SECRET"), "{}", e.message());
        // Keys and values swapped: the URL is not shown either.
        let e = RpcEndpoints::new([(secret, "eip155:8453")]).unwrap_err();
        assert!(!e.message().contains("SECRET"), "{}", e.message());
        let e = RpcEndpoints::new([("eip155:8453", "ftp://rpc.example/SECRET")]).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidArgument);
        assert!(!e.message().contains("SECRET"), "{}", e.message());
        // Written as bills write networks.
        let padded = RpcEndpoints::new([("eip155:08453", secret)]).unwrap();
        assert_eq!(padded.url("eip155:8453"), Some(secret));
        assert!(RpcEndpoints::new([("eip155:+8453", secret)]).is_err());
        // One endpoint per network, however it is written.
        let e = RpcEndpoints::new([("eip155:8453", secret), ("eip155:08453", secret)]).unwrap_err();
        assert!(e.message().contains("two RPC endpoints") && !e.message().contains("SECRET"), "{}", e.message());
        // No credentials before the host.
        for url in ["https://user:SECRET@rpc.example/", "https://:SECRET@rpc.example/", "https://SECRET@rpc.example/"] {
            let e = RpcEndpoints::new([("eip155:8453", url)]).unwrap_err();
            assert!(
                e.message().contains("user name or password") && !e.message().contains("SECRET"),
                "{}",
                e.message()
            );
        }
        // Kept as checked: the parser's form.
        let plain = RpcEndpoints::new([("eip155:8453", "HTTPS://RPC.Example:443/v2/SECRET")]).unwrap();
        assert_eq!(plain.url("eip155:8453"), Some("https://rpc.example/v2/SECRET"));
    }
}
