//! Bills from price tags: what a route costs, turned into the offers of a `PaymentRequired`.

use crate::prelude::*;
use alloy_primitives::{Address, U256};
use serde_json::Value;

use crate::assets::{TransferMethod, default_asset, known_asset};
use crate::error::{Error, ErrorCode, Result};
use crate::exact::SCHEME;
use crate::money::parse_price;
use crate::network;
use crate::types::{PaymentRequired, PaymentRequirements, ResourceInfo};
use crate::wire::{Object, parse_address};

/// The default `maxTimeoutSeconds` of an offer (the official v2 servers' default).
pub const DEFAULT_MAX_TIMEOUT_SECONDS: u64 = 300;

/// What a route costs in one currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Price {
    /// A USD price such as "$0.01", paid in the network's default stablecoin.
    Money(String),
    /// An exact amount of a given token.
    Atomic {
        /// Atomic units.
        amount: U256,
        /// Token contract.
        asset: Address,
        /// The token's EIP-712 domain name (needed for EIP-3009; looked up in the default table if absent).
        name: Option<String>,
        /// The token's EIP-712 domain version.
        version: Option<String>,
        /// How the token moves (`None`: the default table's method, else EIP-3009).
        transfer_method: Option<TransferMethod>,
    },
}

/// One way to pay for a route: a price on a network to a payee.
#[derive(Clone, Debug, PartialEq)]
pub struct PriceTag {
    /// Network: CAIP-2 (`eip155:8453`) or a v1 name (`base`).
    pub network: String,
    /// The price.
    pub price: Price,
    /// The payee.
    pub pay_to: String,
    /// Seconds allowed to complete the payment (default 300).
    pub max_timeout_seconds: Option<u64>,
    /// Members merged over the offer's `extra`.
    pub extra: Object,
    /// Extensions this tag declares on the bill (`payment-identifier`, `offer-receipt`, ...). A bill has one
    /// `extensions` map, so the tags' declarations are merged into it; when two tags declare the same key,
    /// the later tag's declaration is kept.
    pub extensions: Object,
    /// An `upto` offer: the price is the most a request may cost, and the handler reports what it charges
    /// (the `Settlement-Overrides` response header). Paid with Permit2; `extra.facilitatorAddress` names the
    /// facilitator that settles it.
    pub upto: bool,
    /// A `batch-settlement` offer: paid from a channel the payer deposits into, one cumulative voucher per
    /// request, checked offline; `extra.receiverAuthorizer` names who signs claims (a facilitator's
    /// `/supported` lists its own), `extra.withdrawDelay` how long a payer's withdrawal waits (default 900 s).
    pub batch: bool,
}

/// A price tag as every binding takes it, field by field; [`PriceTag::from_spec`] checks it once for all.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PriceTagSpec {
    /// Network: CAIP-2 (`eip155:8453`) or a v1 name (`base`).
    pub network: String,
    /// The payee.
    pub pay_to: String,
    /// A USD price such as "$0.01", paid in the network's default stablecoin.
    pub price: Option<String>,
    /// Atomic units of `asset` (with `asset`, instead of `price`).
    pub amount: Option<U256>,
    /// The token's address (with `amount`).
    pub asset: Option<String>,
    /// The token's EIP-712 domain name (needed for a token outside the default table).
    pub eip712_name: Option<String>,
    /// The token's EIP-712 domain version.
    pub eip712_version: Option<String>,
    /// `eip3009` or `permit2` (default: the default table's method, else EIP-3009).
    pub transfer_method: Option<String>,
    /// `exact` (the default), `upto` (the price is a maximum; the handler reports what it charges) or
    /// `batch-settlement` (paid from a channel by vouchers checked offline).
    pub scheme: Option<String>,
    /// Seconds allowed to complete the payment (default 300).
    pub max_timeout_seconds: Option<u64>,
    /// Members merged over the offer's `extra`.
    pub extra: Option<Object>,
    /// Extensions the tag declares on the bill.
    pub extensions: Option<Object>,
}

impl PriceTag {
    /// Checks a spec and makes the tag: either a `price`, or an `amount` with its `asset` (and optionally the
    /// token's EIP-712 domain and transfer method, which only make sense for an explicit token).
    pub fn from_spec(spec: PriceTagSpec) -> Result<PriceTag> {
        let bad = |msg: &str| Error::new(ErrorCode::InvalidPriceTag, msg);
        let token_details =
            spec.eip712_name.is_some() || spec.eip712_version.is_some() || spec.transfer_method.is_some();
        let price = match (spec.price, spec.amount, spec.asset) {
            (Some(_), None, None) if token_details => {
                return Err(bad(
                    "the EIP-712 name, version and transfer method go with an amount and its asset; a price is paid in \
                     the network's default stablecoin (for Permit2, set extra assetTransferMethod to \"permit2\")",
                ));
            }
            (Some(p), None, None) => Price::Money(p),
            (None, Some(amount), Some(asset)) => Price::Atomic {
                amount,
                asset: parse_address(&asset).map_err(|e| bad(&format!("asset {e}")))?,
                name: spec.eip712_name,
                version: spec.eip712_version,
                transfer_method: spec.transfer_method.as_deref().map(TransferMethod::parse).transpose()?,
            },
            _ => return Err(bad("give either a price (\"$0.01\") or an amount with its asset")),
        };
        let (upto, batch) = match spec.scheme.as_deref() {
            None | Some(SCHEME) => (false, false),
            Some(crate::upto::SCHEME) => (true, false),
            Some(crate::batch::SCHEME) => (false, true),
            Some(other) => {
                return Err(bad(&format!(
                    "scheme \"{}\" is not one paywire serves; use \"exact\", \"upto\" or \"batch-settlement\"",
                    crate::wire::truncate(other)
                )));
            }
        };
        let tag = PriceTag {
            network: spec.network,
            price,
            pay_to: spec.pay_to,
            max_timeout_seconds: spec.max_timeout_seconds,
            extra: spec.extra.unwrap_or_default(),
            extensions: spec.extensions.unwrap_or_default(),
            upto,
            batch,
        };
        // A tag that cannot make an offer is refused now, not on the first request. The facilitator's upto key
        // and a batch-settlement receiver authorizer may come later, from the facilitator's /supported answer
        // given to the gate (`GateOptions::supported`), which checks them then.
        let mut probe = tag.clone();
        for (key, wanted) in [("facilitatorAddress", upto), ("receiverAuthorizer", batch)] {
            if wanted && !probe.extra.contains_key(key) {
                probe.extra.insert(key.into(), Value::from("0x0000000000000000000000000000000000000001"));
            }
        }
        probe.to_requirements(2, &ResourceInfo::new("http://localhost/"))?;
        Ok(tag)
    }

    /// A money price ("$0.01") on a network to a payee.
    pub fn new(price: impl Into<String>, network: impl Into<String>, pay_to: impl Into<String>) -> Self {
        PriceTag {
            network: network.into(),
            price: Price::Money(price.into()),
            pay_to: pay_to.into(),
            max_timeout_seconds: None,
            extra: Object::new(),
            extensions: Object::new(),
            upto: false,
            batch: false,
        }
    }

    /// Resolves the tag into an offer of the given x402 version.
    pub fn to_requirements(&self, x402_version: u8, resource: &ResourceInfo) -> Result<PaymentRequirements> {
        check_version(x402_version)?;
        let bad = |msg: String| Error::new(ErrorCode::InvalidPriceTag, msg);
        let chain_id = network::chain_id(&self.network).map_err(|e| bad(e.message().to_string()))?;
        let pay_to = parse_address(&self.pay_to).map_err(|e| bad(format!("payTo {e}")))?;
        if pay_to == Address::ZERO {
            return Err(bad("payTo is the zero address; payments to it are burnt".into()));
        }
        let (amount, asset, name, version, mut method) = match &self.price {
            Price::Money(text) => {
                let known = default_asset(chain_id).ok_or_else(|| {
                    Error::new(
                        ErrorCode::UnknownAsset,
                        format!(
                            "no default stablecoin is known on chain {chain_id}; price the route with an explicit \
                             token amount instead of \"{text}\""
                        ),
                    )
                })?;
                let amount = parse_price(text, known.decimals)?;
                (
                    amount,
                    known.address,
                    Some(known.name.to_string()),
                    Some(known.version.to_string()),
                    known.transfer_method,
                )
            }
            Price::Atomic { amount, asset, name, version, transfer_method } => {
                if amount.is_zero() {
                    return Err(bad("the amount is zero; a paid resource must cost something".into()));
                }
                let known = known_asset(chain_id, asset);
                let method = transfer_method.or(known.map(|k| k.transfer_method)).unwrap_or(TransferMethod::Eip3009);
                let name = name.clone().or(known.map(|k| k.name.to_string()));
                let version = version.clone().or(known.map(|k| k.version.to_string()));
                if method == TransferMethod::Eip3009 && (name.is_none() || version.is_none()) {
                    return Err(Error::new(
                        ErrorCode::MissingEip712Domain,
                        format!(
                            "token {} is not in the default table, so its EIP-712 name and version must be given \
                             (they must equal the contract's name() and version())",
                            asset.to_checksum(None)
                        ),
                    ));
                }
                (*amount, *asset, name, version, method)
            }
        };
        if self.upto {
            // upto rests on Permit2 (the upto proxy); it has no x402 v1 form.
            method = TransferMethod::Permit2;
            if x402_version < 2 {
                return Err(bad("the upto scheme is x402 v2 only; serve this route over v2".into()));
            }
            match self.extra.get("facilitatorAddress").and_then(|v| v.as_str()).map(parse_address) {
                Some(Ok(a)) if a != Address::ZERO => {}
                _ => {
                    return Err(bad("an upto price tag names the facilitator that settles it in extra \
                                    facilitatorAddress: name it there, or let a payment gate take it from the \
                                    facilitator's /supported answer (the middleware's supported option), which \
                                    lists it under its upto kind"
                        .into()));
                }
            }
        }
        if self.batch {
            if x402_version < 2 {
                return Err(bad("the batch-settlement scheme is x402 v2 only; serve this route over v2".into()));
            }
            match self.extra.get("receiverAuthorizer").and_then(|v| v.as_str()).map(parse_address) {
                Some(Ok(a)) if a != Address::ZERO => {}
                _ => {
                    return Err(bad("a batch-settlement price tag names its receiver authorizer in extra \
                                    receiverAuthorizer (the key that signs claims): name it there, or let a payment \
                                    gate take it from the key it holds (receiver_authorizer) or from the \
                                    facilitator's /supported answer (the middleware's supported option), which \
                                    lists the facilitator's own under its batch-settlement kind"
                        .into()));
                }
            }
        }
        let mut extra = Object::new();
        let supports_2612 = known_asset(chain_id, &asset).is_some_and(|k| k.supports_eip2612);
        if method == TransferMethod::Eip3009 || supports_2612 || self.upto || matches!(self.price, Price::Atomic { .. })
        {
            if let Some(n) = name {
                extra.insert("name".into(), Value::String(n));
            }
            if let Some(v) = version {
                extra.insert("version".into(), Value::String(v));
            }
        }
        if let Some(m) = method.extra_value() {
            extra.insert("assetTransferMethod".into(), Value::String(m.into()));
        }
        if self.batch {
            // The client maps these onto its channel; the official SDKs write them in this order.
            let authorizer = self.extra.get("receiverAuthorizer").cloned().unwrap_or_default();
            let delay =
                self.extra.get("withdrawDelay").cloned().unwrap_or(Value::from(crate::batch::MIN_WITHDRAW_DELAY));
            let mut ordered = Object::new();
            ordered.insert("receiverAuthorizer".into(), authorizer);
            ordered.insert("withdrawDelay".into(), delay);
            ordered.extend(core::mem::take(&mut extra));
            extra = ordered;
        }
        for (k, v) in &self.extra {
            extra.insert(k.clone(), v.clone());
        }
        if self.batch
            && let Some(delay) = extra.get("withdrawDelay")
        {
            let seconds =
                delay.as_u64().ok_or_else(|| bad("extra withdrawDelay must be a number of seconds".into()))?;
            crate::batch::offer::check_withdraw_delay(seconds).map_err(|e| bad(e.message().to_string()))?;
        }
        let timeout = self.max_timeout_seconds.unwrap_or(DEFAULT_MAX_TIMEOUT_SECONDS);
        if timeout == 0 {
            return Err(bad("maxTimeoutSeconds must be greater than zero".into()));
        }
        let asset_text = asset.to_checksum(None);
        if x402_version >= 2 {
            PaymentRequirements::new_v2(
                if self.upto {
                    crate::upto::SCHEME
                } else if self.batch {
                    crate::batch::SCHEME
                } else {
                    SCHEME
                },
                &network::caip2(chain_id),
                amount,
                &asset_text,
                &self.pay_to,
                timeout,
                Some(extra),
            )
        } else {
            let name = network::v1_name(chain_id)
                .ok_or_else(|| bad(format!("chain {chain_id} has no x402 v1 network name; serve it over v2")))?;
            PaymentRequirements::new_v1(
                SCHEME,
                name,
                amount,
                &resource.url,
                resource.description.as_deref().unwrap_or(""),
                resource.mime_type.as_deref().unwrap_or(""),
                &self.pay_to,
                timeout,
                &asset_text,
                Some(extra),
            )
        }
    }
}

/// Refuses an x402 version paywire does not speak (1 and 2 exist).
pub fn check_version(x402_version: u8) -> Result<()> {
    if (1..=2).contains(&x402_version) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorCode::InvalidX402Version,
            format!("x402 version {x402_version} does not exist; use 2 (or 1 for v1 clients)"),
        ))
    }
}

/// Builds the bill for a resource from its price tags (one offer per tag, in order).
pub fn build_payment_required(x402_version: u8, resource: ResourceInfo, tags: &[PriceTag]) -> Result<PaymentRequired> {
    if tags.is_empty() {
        return Err(Error::new(ErrorCode::InvalidPriceTag, "a paid route needs at least one price tag"));
    }
    check_version(x402_version)?;
    if resource.url.is_empty() {
        return Err(Error::new(ErrorCode::InvalidPriceTag, "the resource URL is empty"));
    }
    let accepts = tags.iter().map(|t| t.to_requirements(x402_version, &resource)).collect::<Result<Vec<_>>>()?;
    let mut extensions = Object::new();
    for tag in tags {
        for (k, v) in &tag.extensions {
            extensions.insert(k.clone(), v.clone());
        }
    }
    let (error, resource, extensions) = if x402_version >= 2 {
        let mut resource = resource;
        resource.description.get_or_insert_with(String::new);
        resource.mime_type.get_or_insert_with(String::new);
        ("Payment required", Some(resource), (!extensions.is_empty()).then_some(extensions))
    } else {
        ("X-PAYMENT header is required", None, None)
    };
    Ok(PaymentRequired {
        x402_version,
        error: Some(error.to_string()),
        resource,
        accepts,
        extensions,
        other: Object::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAY_TO: &str = "0x209693Bc6afc0C5328bA36FaF03C514EF312287C";

    #[test]
    fn money_price_on_base_sepolia() {
        let bill = build_payment_required(
            2,
            ResourceInfo::new("https://api.example.com/data"),
            &[PriceTag::new("$0.01", "eip155:84532", PAY_TO)],
        )
        .unwrap();
        assert_eq!(
            bill.to_json(),
            r#"{"x402Version":2,"error":"Payment required","resource":{"url":"https://api.example.com/data","description":"","mimeType":""},"accepts":[{"scheme":"exact","network":"eip155:84532","amount":"10000","asset":"0x036CbD53842c5426634e7929541eC2318f3dCF7e","payTo":"0x209693Bc6afc0C5328bA36FaF03C514EF312287C","maxTimeoutSeconds":300,"extra":{"name":"USDC","version":"2"}}]}"#
        );
    }

    #[test]
    fn v1_names_and_permit2_tokens() {
        let bill =
            build_payment_required(1, ResourceInfo::new("https://x/y"), &[PriceTag::new("0.5", "eip155:8453", PAY_TO)])
                .unwrap();
        assert_eq!(bill.accepts[0].network(), "base");
        assert_eq!(bill.accepts[0].extra_str("name"), Some("USD Coin"));
        let mega = PriceTag::new("$1", "eip155:4326", PAY_TO).to_requirements(2, &ResourceInfo::new("u")).unwrap();
        assert_eq!(mega.extra_str("assetTransferMethod"), Some("permit2"));
        assert_eq!(mega.amount(), U256::from(10u64.pow(18)));
    }

    #[test]
    fn bad_tags_are_refused() {
        let r = ResourceInfo::new("u");
        assert_eq!(
            PriceTag::new("$0.01", "eip155:31337", PAY_TO).to_requirements(2, &r).unwrap_err().code(),
            ErrorCode::UnknownAsset
        );
        assert_eq!(
            PriceTag::new("1e-3", "base", PAY_TO).to_requirements(2, &r).unwrap_err().code(),
            ErrorCode::InvalidPrice
        );
        assert_eq!(
            PriceTag::new("$1", "base", "0x0").to_requirements(2, &r).unwrap_err().code(),
            ErrorCode::InvalidPriceTag
        );
        let custom = PriceTag {
            price: Price::Atomic {
                amount: U256::from(5),
                asset: Address::repeat_byte(1),
                name: None,
                version: None,
                transfer_method: None,
            },
            ..PriceTag::new("", "eip155:31337", PAY_TO)
        };
        assert_eq!(custom.to_requirements(2, &r).unwrap_err().code(), ErrorCode::MissingEip712Domain);
        assert!(build_payment_required(2, r.clone(), &[]).is_err());
        assert_eq!(
            PriceTag::new("$1", "base", PAY_TO).to_requirements(7, &r).unwrap_err().code(),
            ErrorCode::InvalidX402Version
        );
    }

    #[test]
    fn specs_are_checked_once_for_every_binding() {
        let spec = |f: fn(&mut PriceTagSpec)| {
            let mut s = PriceTagSpec { network: "eip155:84532".into(), pay_to: PAY_TO.into(), ..Default::default() };
            f(&mut s);
            PriceTag::from_spec(s)
        };
        assert!(spec(|s| s.price = Some("$0.01".into())).is_ok());
        for bad in [
            spec(|s| {
                s.price = Some("$0.01".into());
                s.transfer_method = Some("permit2".into());
            }),
            spec(|_| {}),
            spec(|s| {
                s.amount = Some(U256::from(5));
                s.asset = Some("0x036CbD53842c5426634e7929541eC2318f3dCF7e".into());
                s.transfer_method = Some("wire".into());
            }),
            spec(|s| s.price = Some("1e-3".into())),
        ] {
            let e = bad.unwrap_err();
            assert!(matches!(e.code(), ErrorCode::InvalidPriceTag | ErrorCode::InvalidPrice), "{e}");
            assert_eq!(e.category(), crate::error::Category::Configuration);
        }
    }
}
