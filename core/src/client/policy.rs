//! The client's spend policy: which offers of a bill it may pay, and which it prefers.

use crate::prelude::*;
use alloy_primitives::{Address, U256};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::assets::TransferMethod;
use crate::error::{Error, ErrorCode, OfferRefusal, Result};
use crate::exact::ExactOffer;
use crate::money::Usd;
use crate::types::{PaymentRequired, PaymentRequirements};

/// A token the policy allows with caps in its own atomic units. For a token outside the default table this
/// is the only way to pay it; for a default stablecoin it replaces the USD per-payment cap (the USD budget
/// still applies).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowedAsset {
    /// Chain id.
    pub chain_id: u64,
    /// Token contract.
    pub address: Address,
    /// Largest single payment, atomic units.
    pub max_per_payment: U256,
    /// Largest running total across payments, atomic units (`None`: only the per-payment cap).
    pub budget: Option<U256>,
}

/// What a client may pay.
///
/// The default is the official clients' default: only the known stablecoins of the default table, at most
/// $1 per payment, on any chain, to anyone. Add a running budget, allowed chains and payees, other tokens
/// with their own caps, and an order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Chains the client pays on (`None`: any chain).
    pub networks: Option<Vec<u64>>,
    /// Payees the client pays (`None`: anyone).
    pub pay_to: Option<Vec<Address>>,
    /// Largest single payment in known stablecoins (`None`: no per-payment cap).
    pub max_per_payment: Option<Usd>,
    /// Largest running total in known stablecoins (`None`: no budget).
    pub budget: Option<Usd>,
    /// Largest single payment in atomic units of whatever token (`None`: no such cap).
    pub max_amount: Option<U256>,
    /// Longest an authorization may stay valid, in seconds: a server asking for a longer
    /// `maxTimeoutSeconds` gets an authorization valid this long (plus the payer's clock-skew margin).
    pub max_validity_seconds: u64,
    /// Whether the default-table stablecoins may be paid at all.
    pub allow_known_assets: bool,
    /// Whether tokens outside the default table and `allowed_assets` may be paid (then only `max_amount`
    /// caps them; they count against no budget). Off by default.
    pub allow_any_asset: bool,
    /// Tokens with their own caps.
    pub allowed_assets: Vec<AllowedAsset>,
    /// Chains in order of preference; acceptable offers on earlier chains win, the rest keep the server's order.
    pub prefer_networks: Vec<u64>,
}

/// The official clients' per-payment default cap.
pub const DEFAULT_MAX_PER_PAYMENT: &str = "$1";

/// The default [`Policy::max_validity_seconds`]: one hour, the longest window any official client signs.
pub const DEFAULT_MAX_VALIDITY_SECONDS: u64 = 3600;

impl Default for Policy {
    fn default() -> Self {
        Policy {
            networks: None,
            pay_to: None,
            max_per_payment: Usd::parse(DEFAULT_MAX_PER_PAYMENT).ok(),
            budget: None,
            max_amount: None,
            max_validity_seconds: DEFAULT_MAX_VALIDITY_SECONDS,
            allow_known_assets: true,
            allow_any_asset: false,
            allowed_assets: Vec::new(),
            prefer_networks: Vec::new(),
        }
    }
}

/// How an acceptable offer counts against budgets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Charge {
    /// Its USD value, for a known stablecoin.
    pub usd: Option<Usd>,
    /// The token and amount, for budgets in atomic units.
    pub atomic: Option<((u64, Address), U256)>,
}

/// What the client has spent so far, for budgets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spent {
    pub usd: Usd,
    pub atomic: Vec<((u64, Address), U256)>,
}

impl Spent {
    pub fn atomic(&self, token: (u64, Address)) -> U256 {
        self.atomic.iter().find(|(k, _)| *k == token).map(|(_, v)| *v).unwrap_or_default()
    }

    pub fn add(&mut self, charge: &Charge) {
        if let Some(usd) = charge.usd {
            self.usd = self.usd.saturating_add(usd);
        }
        if let Some((token, amount)) = charge.atomic {
            match self.atomic.iter_mut().find(|(k, _)| *k == token) {
                Some((_, v)) => *v = v.saturating_add(amount),
                None => self.atomic.push((token, amount)),
            }
        }
    }
}

/// An offer the policy accepts.
#[derive(Clone, Debug)]
pub(crate) struct Acceptable {
    pub index: usize,
    pub offer: ExactOffer,
    pub charge: Charge,
    /// For an `upto` offer: the facilitator its witness names (the offer's amount is the maximum).
    pub upto: Option<Address>,
}

impl Policy {
    /// Refuses everything outside `chain_ids`.
    pub fn with_networks(mut self, chain_ids: impl IntoIterator<Item = u64>) -> Self {
        self.networks = Some(chain_ids.into_iter().collect());
        self
    }

    /// Refuses payees outside `payees`.
    pub fn with_pay_to(mut self, payees: impl IntoIterator<Item = Address>) -> Self {
        self.pay_to = Some(payees.into_iter().collect());
        self
    }

    /// Sets the per-payment cap for known stablecoins (`None`: uncapped).
    pub fn with_max_per_payment(mut self, cap: Option<Usd>) -> Self {
        self.max_per_payment = cap;
        self
    }

    /// Sets a running budget for known stablecoins.
    pub fn with_budget(mut self, budget: Usd) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Caps every payment at `amount` atomic units, whatever the token.
    pub fn with_max_amount(mut self, amount: U256) -> Self {
        self.max_amount = Some(amount);
        self
    }

    /// Allows a token with its own caps.
    pub fn allow_asset(mut self, asset: AllowedAsset) -> Self {
        self.allowed_assets.push(asset);
        self
    }

    /// Prefers chains in this order.
    pub fn prefer(mut self, chain_ids: impl IntoIterator<Item = u64>) -> Self {
        self.prefer_networks = chain_ids.into_iter().collect();
        self
    }

    /// Reads a policy from JSON text. See [`Policy::from_value`] for the members.
    pub fn from_json(text: &str) -> Result<Policy> {
        crate::codec::check_body_size(text.len(), "the policy")?;
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorCode::InvalidPolicy, format!("the policy is not JSON: {e}")))?;
        Self::from_value(&value)
    }

    /// Reads a policy from a JSON value, the form bindings and configuration files use. Members (all
    /// optional): `networks` and `prefer` (chain ids or network names), `payTo` (addresses),
    /// `maxPerPayment` (USD string, or `"none"`/null for no cap; default "$1"), `budget` (USD string),
    /// `maxAmount` (atomic decimal string), `maxValiditySeconds`, `allowKnownAssets`, `allowAnyAsset`
    /// (booleans), `allowedAssets` (`[{chainId, address, maxPerPayment, budget}]`, atomic decimal strings).
    /// Unknown members are refused, so a typo cannot loosen a policy.
    pub fn from_value(value: &Value) -> Result<Policy> {
        let doc = PolicyDoc::deserialize(value)
            .map_err(|e| Error::new(ErrorCode::InvalidPolicy, format!("the policy is not valid: {e}")))?;
        doc.into_policy().map_err(|e| Error::new(ErrorCode::InvalidPolicy, e))
    }

    /// Judges one offer: how it would be charged, or every reason it is refused. An `upto` offer is judged at
    /// its maximum, which is what its signature puts at risk; the facilitator its witness names comes back
    /// with it.
    pub(crate) fn judge(
        &self,
        req: &PaymentRequirements,
        spent: &Spent,
    ) -> core::result::Result<(ExactOffer, Charge, Option<Address>), Vec<String>> {
        let resolved = match req.scheme() {
            crate::upto::SCHEME => crate::upto::UptoOffer::resolve(req).map(|o| (o.as_exact(), Some(o.facilitator))),
            crate::batch::SCHEME => crate::batch::BatchOffer::resolve(req).map(|o| (o.as_exact(), None)),
            _ => ExactOffer::resolve(req).map(|o| (o, None)),
        };
        let (mut offer, upto) = match resolved {
            Ok(o) => o,
            Err(e) => return Err(vec![e.message().to_string()]),
        };
        // x402 v1 has no Permit2: a v1 offer is always paid with EIP-3009.
        if req.version() < 2 {
            offer.method = TransferMethod::Eip3009;
        }
        let mut reasons = Vec::new();
        if let Some(allowed) = &self.networks
            && !allowed.contains(&offer.chain_id)
        {
            reasons.push(format!("chain {} is not among the policy's networks", offer.chain_id));
        }
        if let Some(payees) = &self.pay_to
            && !payees.contains(&offer.pay_to)
        {
            reasons.push(format!("payee {} is not among the policy's payees", offer.pay_to.to_checksum(None)));
        }
        if let Some(cap) = self.max_amount
            && offer.amount > cap
        {
            reasons.push(format!("it costs {} units, over the policy's {cap}-unit cap", offer.amount));
        }
        if offer.method == TransferMethod::Eip3009 && (offer.domain_name.is_none() || offer.domain_version.is_none()) {
            reasons.push("the offer lacks extra.name/extra.version, the token's EIP-712 domain".to_string());
        }
        let token = (offer.chain_id, offer.asset);
        let known = offer.known_asset().filter(|_| self.allow_known_assets);
        let allowed = self.allowed_assets.iter().find(|a| (a.chain_id, a.address) == token);
        let mut charge = Charge { usd: None, atomic: Some((token, offer.amount)) };
        if let Some(asset) = known {
            // A known stablecoin always counts against the USD budget, even when an allowed-asset entry
            // replaces its per-payment cap.
            let usd = Usd::from_atomic(offer.amount, asset.decimals);
            charge.usd = Some(usd);
            let shown = offer.amount_text();
            if allowed.is_none()
                && let Some(cap) = self.max_per_payment
                && usd > cap
            {
                reasons.push(format!("it costs {shown}, over the {cap} per-payment cap"));
            }
            if let Some(budget) = self.budget
                && spent.usd.saturating_add(usd) > budget
            {
                reasons.push(format!(
                    "it costs {shown} and only {} of the {budget} budget is left",
                    budget.saturating_sub(spent.usd)
                ));
            }
        }
        if let Some(allowed) = allowed {
            if offer.amount > allowed.max_per_payment {
                reasons.push(format!(
                    "it costs {} units, over the {} units allowed per payment for this token",
                    offer.amount, allowed.max_per_payment
                ));
            }
            if let Some(budget) = allowed.budget {
                let spent_here = spent.atomic(token);
                if spent_here.saturating_add(offer.amount) > budget {
                    reasons.push(format!(
                        "it costs {} units and only {} of the token's {budget}-unit budget is left",
                        offer.amount,
                        budget.saturating_sub(spent_here)
                    ));
                }
            }
        }
        if known.is_none() && allowed.is_none() && !self.allow_any_asset {
            reasons.push(format!(
                "token {} on chain {} is not a known stablecoin; allow it explicitly with its own cap",
                offer.asset.to_checksum(None),
                offer.chain_id
            ));
        }
        if reasons.is_empty() { Ok((offer, charge, upto)) } else { Err(reasons) }
    }

    /// Whether `charge` still fits every budget after `spent`.
    pub(crate) fn fits_budget(&self, spent: &Spent, charge: &Charge) -> bool {
        let usd_ok = match (self.budget, charge.usd) {
            (Some(budget), Some(usd)) => spent.usd.saturating_add(usd) <= budget,
            _ => true,
        };
        let atomic_ok = match charge.atomic {
            Some((token, amount)) => self
                .allowed_assets
                .iter()
                .find(|a| (a.chain_id, a.address) == token)
                .and_then(|a| a.budget)
                .is_none_or(|budget| spent.atomic(token).saturating_add(amount) <= budget),
            None => true,
        };
        usd_ok && atomic_ok
    }

    /// Chooses the offer to pay: the acceptable offer on the most preferred chain, else the server's first
    /// acceptable one. When none is acceptable the error lists every offer and why it was refused.
    pub(crate) fn choose(&self, bill: &PaymentRequired, spent: &Spent) -> Result<Acceptable> {
        let mut refusals = Vec::new();
        let mut best: Option<(usize, Acceptable)> = None;
        for (index, req) in bill.accepts.iter().enumerate() {
            match self.judge(req, spent) {
                Ok((offer, charge, upto)) => {
                    let rank = self.prefer_networks.iter().position(|c| *c == offer.chain_id).unwrap_or(usize::MAX);
                    if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                        best = Some((rank, Acceptable { index, offer, charge, upto }));
                    }
                }
                Err(reasons) => refusals.push(OfferRefusal { index, offer: req.summary(), reasons }),
            }
        }
        if let Some((_, chosen)) = best {
            return Ok(chosen);
        }
        let listing = refusals
            .iter()
            .map(|r| format!("[{}] {}: {}", r.index, r.offer, r.reasons.join("; ")))
            .collect::<Vec<_>>()
            .join(" | ");
        Err(Error::new(
            ErrorCode::NoAcceptableOffer,
            format!("none of the {} offers is acceptable under the payment policy: {listing}", bill.accepts.len()),
        )
        .with_refusals(refusals))
    }
}

/// The JSON form of a policy.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PolicyDoc {
    networks: Option<Vec<ChainRef>>,
    prefer: Option<Vec<ChainRef>>,
    pay_to: Option<Vec<String>>,
    /// Absent: the default cap; null or "none": no cap.
    #[serde(default, deserialize_with = "present")]
    max_per_payment: Option<Value>,
    budget: Option<String>,
    max_amount: Option<String>,
    max_validity_seconds: Option<u64>,
    allow_known_assets: Option<bool>,
    allow_any_asset: Option<bool>,
    allowed_assets: Option<Vec<AllowedAssetDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AllowedAssetDoc {
    chain_id: ChainRef,
    address: String,
    max_per_payment: String,
    budget: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ChainRef {
    Id(u64),
    Name(String),
}

/// Keeps an explicit `null` apart from an absent member.
fn present<'de, D: Deserializer<'de>>(d: D) -> core::result::Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

impl ChainRef {
    fn chain_id(&self) -> core::result::Result<u64, String> {
        match self {
            ChainRef::Id(id) => Ok(*id),
            ChainRef::Name(name) => crate::network::chain_id(name).map_err(|e| e.message().to_string()),
        }
    }
}

impl PolicyDoc {
    fn into_policy(self) -> core::result::Result<Policy, String> {
        use crate::wire::{parse_address, parse_decimal_u256};
        let chains =
            |list: Vec<ChainRef>| list.iter().map(ChainRef::chain_id).collect::<core::result::Result<Vec<_>, _>>();
        let usd = |key: &str, s: &str| Usd::parse(s).map_err(|e| format!("{key}: {}", e.message()));
        let atomic = |key: &str, s: &str| parse_decimal_u256(s).map_err(|e| format!("{key} {e}"));
        let mut policy = Policy::default();
        if let Some(list) = self.networks {
            policy.networks = Some(chains(list)?);
        }
        if let Some(list) = self.prefer {
            policy.prefer_networks = chains(list)?;
        }
        if let Some(list) = self.pay_to {
            policy.pay_to = Some(
                list.iter()
                    .map(|a| parse_address(a).map_err(|e| format!("payTo: {e}")))
                    .collect::<core::result::Result<_, _>>()?,
            );
        }
        policy.max_per_payment = match self.max_per_payment {
            None => policy.max_per_payment,
            Some(Value::Null) => None,
            Some(Value::String(s)) if s == "none" => None,
            Some(Value::String(s)) => Some(usd("maxPerPayment", &s)?),
            Some(other) => return Err(format!("maxPerPayment must be a USD string or \"none\", found {other}")),
        };
        if let Some(b) = self.budget {
            policy.budget = Some(usd("budget", &b)?);
        }
        if let Some(m) = self.max_amount {
            policy.max_amount = Some(atomic("maxAmount", &m)?);
        }
        if let Some(v) = self.max_validity_seconds {
            policy.max_validity_seconds = v;
        }
        if let Some(v) = self.allow_known_assets {
            policy.allow_known_assets = v;
        }
        if let Some(v) = self.allow_any_asset {
            policy.allow_any_asset = v;
        }
        for a in self.allowed_assets.unwrap_or_default() {
            policy.allowed_assets.push(AllowedAsset {
                chain_id: a.chain_id.chain_id()?,
                address: parse_address(&a.address).map_err(|e| format!("allowedAssets.address: {e}"))?,
                max_per_payment: atomic("allowedAssets.maxPerPayment", &a.max_per_payment)?,
                budget: a.budget.as_deref().map(|b| atomic("allowedAssets.budget", b)).transpose()?,
            });
        }
        Ok(policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn from_json_members() {
        let p =
            Policy::from_value(&json!({"networks": ["base", 84532], "maxPerPayment": "none", "budget": "$5"})).unwrap();
        assert_eq!(p.networks, Some(vec![8453, 84532]));
        assert_eq!(p.max_per_payment, None);
        assert_eq!(Policy::from_value(&json!({"maxPerPayment": null})).unwrap().max_per_payment, None);
        assert_eq!(Policy::from_value(&json!({})).unwrap(), Policy::default());
        let e = Policy::from_value(&json!({"maxPerPaymnt": "$1"})).unwrap_err();
        assert_eq!(e.code(), ErrorCode::InvalidPolicy);
        assert!(e.message().contains("maxPerPaymnt"), "{}", e.message());
        assert!(Policy::from_value(&json!({"budget": "lots"})).is_err());
        assert!(Policy::from_json("{").is_err());
    }

    #[test]
    fn known_assets_stay_in_the_usd_budget_when_their_cap_is_raised() {
        let usdc = crate::assets::default_asset(8453).unwrap();
        let policy = Policy::default().with_budget(Usd::parse("$1").unwrap()).allow_asset(AllowedAsset {
            chain_id: 8453,
            address: usdc.address,
            max_per_payment: U256::from(5_000_000),
            budget: None,
        });
        let req = PaymentRequirements::new_v2(
            "exact",
            "eip155:8453",
            U256::from(2_000_000),
            &usdc.address.to_checksum(None),
            "0x209693Bc6afc0C5328bA36FaF03C514EF312287C",
            60,
            serde_json::from_value(json!({"name": "USD Coin", "version": "2"})).unwrap(),
        )
        .unwrap();
        let reasons = policy.judge(&req, &Spent::default()).unwrap_err();
        assert!(reasons.iter().any(|r| r.contains("budget")), "{reasons:?}");
        assert!(!reasons.iter().any(|r| r.contains("per-payment cap")), "{reasons:?}");
    }
}
