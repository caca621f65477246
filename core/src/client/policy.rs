//! The client's spend policy: which offers of a bill it may pay, and which it prefers.

use alloy_primitives::{Address, U256};

use crate::assets::{KnownAsset, TransferMethod};
use crate::error::{Error, ErrorCode, OfferRefusal, Result};
use crate::exact::ExactOffer;
use crate::money::{Usd, format_units};
use crate::types::{PaymentRequired, PaymentRequirements};

/// A token outside the default stablecoin table that the policy allows, with its own caps in atomic units.
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
    /// Whether the default-table stablecoins may be paid at all.
    pub allow_known_assets: bool,
    /// Whether tokens outside the default table and `allowed_assets` may be paid (then only `max_amount`
    /// caps them; they count against no budget). Off by default.
    pub allow_any_asset: bool,
    /// Further tokens, each with its own caps.
    pub allowed_assets: Vec<AllowedAsset>,
    /// Chains in order of preference; acceptable offers on earlier chains win, the rest keep the server's order.
    pub prefer_networks: Vec<u64>,
}

/// The official clients' per-payment default cap.
pub const DEFAULT_MAX_PER_PAYMENT: &str = "$1";

impl Default for Policy {
    fn default() -> Self {
        Policy {
            networks: None,
            pay_to: None,
            max_per_payment: Usd::parse(DEFAULT_MAX_PER_PAYMENT).ok(),
            budget: None,
            max_amount: None,
            allow_known_assets: true,
            allow_any_asset: false,
            allowed_assets: Vec::new(),
            prefer_networks: Vec::new(),
        }
    }
}

/// How an acceptable offer will be paid and counted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Charge {
    /// A known stablecoin, counted in USD.
    Usd(Usd),
    /// An explicitly allowed token, counted in its own units.
    Atomic { chain_id: u64, asset: Address, amount: U256 },
}

/// What the client has spent so far, for budgets.
#[derive(Clone, Debug, Default)]
pub(crate) struct Spent {
    pub usd: Usd,
    pub atomic: Vec<((u64, Address), U256)>,
}

impl Spent {
    pub fn atomic(&self, chain_id: u64, asset: Address) -> U256 {
        self.atomic.iter().find(|(k, _)| *k == (chain_id, asset)).map(|(_, v)| *v).unwrap_or_default()
    }

    pub fn add(&mut self, charge: &Charge) {
        match charge {
            Charge::Usd(v) => self.usd = self.usd.saturating_add(*v),
            Charge::Atomic { chain_id, asset, amount } => {
                match self.atomic.iter_mut().find(|(k, _)| *k == (*chain_id, *asset)) {
                    Some((_, v)) => *v = v.saturating_add(*amount),
                    None => self.atomic.push(((*chain_id, *asset), *amount)),
                }
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

    /// Allows another token with its own caps.
    pub fn allow_asset(mut self, asset: AllowedAsset) -> Self {
        self.allowed_assets.push(asset);
        self
    }

    /// Prefers chains in this order.
    pub fn prefer(mut self, chain_ids: impl IntoIterator<Item = u64>) -> Self {
        self.prefer_networks = chain_ids.into_iter().collect();
        self
    }

    /// Reads a policy from JSON, the form bindings and configuration files use. Members (all optional):
    /// `networks` and `prefer` (chain ids or network names), `payTo` (addresses), `maxPerPayment` (USD
    /// string, or null for no cap; default "$1"), `budget` (USD string), `maxAmount` (atomic decimal string),
    /// `allowKnownAssets`, `allowAnyAsset` (booleans), `allowedAssets` (`[{chainId, address, maxPerPayment,
    /// budget}]`, atomic decimal strings). Unknown members are refused, so a typo cannot loosen a policy.
    pub fn from_json(value: &serde_json::Value) -> Result<Policy> {
        use crate::wire::{parse_address, parse_decimal_u256};
        let code = ErrorCode::InvalidPolicy;
        let bad = |what: String| Error::new(code, what);
        let obj = value.as_object().ok_or_else(|| bad("a policy must be a JSON object".into()))?;
        let mut policy = Policy::default();
        let chains = |key: &str, v: &serde_json::Value| -> Result<Vec<u64>> {
            v.as_array()
                .ok_or_else(|| bad(format!("{key} must be a list of chain ids or network names")))?
                .iter()
                .map(|c| match c {
                    serde_json::Value::Number(n) => {
                        n.as_u64().ok_or_else(|| bad(format!("{key}: {n} is not a chain id")))
                    }
                    serde_json::Value::String(s) => {
                        crate::network::chain_id(s).map_err(|e| bad(format!("{key}: {}", e.message())))
                    }
                    other => Err(bad(format!("{key}: {other} is not a chain id"))),
                })
                .collect()
        };
        let usd = |key: &str, v: &serde_json::Value| -> Result<Usd> {
            let s = v.as_str().ok_or_else(|| bad(format!("{key} must be a USD amount such as \"$1\"")))?;
            Usd::parse(s).map_err(|e| bad(format!("{key}: {}", e.message())))
        };
        let atomic = |key: &str, v: &serde_json::Value| -> Result<U256> {
            let s = v.as_str().ok_or_else(|| bad(format!("{key} must be a decimal string of atomic units")))?;
            parse_decimal_u256(s).map_err(|e| bad(format!("{key} {e}")))
        };
        let flag = |key: &str, v: &serde_json::Value| -> Result<bool> {
            v.as_bool().ok_or_else(|| bad(format!("{key} must be true or false")))
        };
        for (key, v) in obj {
            match key.as_str() {
                "networks" => policy.networks = Some(chains(key, v)?),
                "prefer" => policy.prefer_networks = chains(key, v)?,
                "payTo" => {
                    let list = v.as_array().ok_or_else(|| bad("payTo must be a list of addresses".into()))?;
                    policy.pay_to = Some(
                        list.iter()
                            .map(|a| {
                                a.as_str()
                                    .ok_or_else(|| bad("payTo entries must be strings".into()))
                                    .and_then(|s| parse_address(s).map_err(|e| bad(format!("payTo: {e}"))))
                            })
                            .collect::<Result<_>>()?,
                    );
                }
                "maxPerPayment" => policy.max_per_payment = if v.is_null() { None } else { Some(usd(key, v)?) },
                "budget" => policy.budget = if v.is_null() { None } else { Some(usd(key, v)?) },
                "maxAmount" => policy.max_amount = if v.is_null() { None } else { Some(atomic(key, v)?) },
                "allowKnownAssets" => policy.allow_known_assets = flag(key, v)?,
                "allowAnyAsset" => policy.allow_any_asset = flag(key, v)?,
                "allowedAssets" => {
                    let list = v.as_array().ok_or_else(|| bad("allowedAssets must be a list".into()))?;
                    for entry in list {
                        let e = entry.as_object().ok_or_else(|| bad("allowedAssets entries must be objects".into()))?;
                        for k in e.keys() {
                            if !matches!(k.as_str(), "chainId" | "address" | "maxPerPayment" | "budget") {
                                return Err(bad(format!("allowedAssets: unknown member \"{k}\"")));
                            }
                        }
                        let chain_id = match e.get("chainId") {
                            Some(c) => chains("allowedAssets.chainId", &serde_json::Value::Array(vec![c.clone()]))?[0],
                            None => return Err(bad("allowedAssets entries need chainId".into())),
                        };
                        let address = e
                            .get("address")
                            .and_then(|a| a.as_str())
                            .ok_or_else(|| bad("allowedAssets entries need an address".into()))
                            .and_then(|s| parse_address(s).map_err(|er| bad(format!("allowedAssets.address: {er}"))))?;
                        let max_per_payment = atomic(
                            "allowedAssets.maxPerPayment",
                            e.get("maxPerPayment")
                                .ok_or_else(|| bad("allowedAssets entries need maxPerPayment (atomic units)".into()))?,
                        )?;
                        let budget = match e.get("budget") {
                            None | Some(serde_json::Value::Null) => None,
                            Some(b) => Some(atomic("allowedAssets.budget", b)?),
                        };
                        policy.allowed_assets.push(AllowedAsset { chain_id, address, max_per_payment, budget });
                    }
                }
                other => return Err(bad(format!("unknown policy member \"{}\"", crate::wire::truncate(other)))),
            }
        }
        Ok(policy)
    }

    /// Judges one offer, giving every reason it is refused (empty when acceptable).
    pub(crate) fn judge(
        &self,
        req: &PaymentRequirements,
        spent: &Spent,
    ) -> std::result::Result<(ExactOffer, Charge), Vec<String>> {
        let offer = match ExactOffer::resolve(req) {
            Ok(o) => o,
            Err(e) => return Err(vec![e.message().to_string()]),
        };
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
        let known = offer.known_asset().filter(|_| self.allow_known_assets);
        let custom = self.allowed_assets.iter().find(|a| a.chain_id == offer.chain_id && a.address == offer.asset);
        let charge = match (known, custom) {
            (_, Some(allowed)) => {
                if offer.amount > allowed.max_per_payment {
                    reasons.push(format!(
                        "it costs {} units, over the {} units allowed per payment for this token",
                        offer.amount, allowed.max_per_payment
                    ));
                }
                if let Some(budget) = allowed.budget {
                    let spent_here = spent.atomic(offer.chain_id, offer.asset);
                    if spent_here.saturating_add(offer.amount) > budget {
                        reasons.push(format!(
                            "it costs {} units and only {} of the token's {} budget is left",
                            offer.amount,
                            budget.saturating_sub(spent_here),
                            budget
                        ));
                    }
                }
                Some(Charge::Atomic { chain_id: offer.chain_id, asset: offer.asset, amount: offer.amount })
            }
            (Some(asset), None) => {
                let usd = Usd::from_atomic(offer.amount, asset.decimals);
                self.judge_usd(asset, &offer, usd, spent, &mut reasons);
                Some(Charge::Usd(usd))
            }
            (None, None) if self.allow_any_asset => {
                Some(Charge::Atomic { chain_id: offer.chain_id, asset: offer.asset, amount: offer.amount })
            }
            (None, None) => {
                reasons.push(format!(
                    "token {} on chain {} is not a known stablecoin; allow it explicitly with its own cap",
                    offer.asset.to_checksum(None),
                    offer.chain_id
                ));
                None
            }
        };
        match charge {
            Some(charge) if reasons.is_empty() => Ok((offer, charge)),
            _ => Err(reasons),
        }
    }

    fn judge_usd(&self, asset: &KnownAsset, offer: &ExactOffer, usd: Usd, spent: &Spent, reasons: &mut Vec<String>) {
        let shown = format!("{} {}", format_units(offer.amount, asset.decimals), asset.symbol);
        if let Some(cap) = self.max_per_payment
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

    /// Chooses the offer to pay: the acceptable offer on the most preferred chain, else the server's first
    /// acceptable one. When none is acceptable the error lists every offer and why it was refused.
    pub(crate) fn choose(&self, bill: &PaymentRequired, spent: &Spent) -> Result<Acceptable> {
        let mut refusals = Vec::new();
        let mut best: Option<(usize, Acceptable)> = None;
        for (index, req) in bill.accepts.iter().enumerate() {
            match self.judge(req, spent) {
                Ok((offer, charge)) => {
                    let rank = self.prefer_networks.iter().position(|c| *c == offer.chain_id).unwrap_or(usize::MAX);
                    if best.as_ref().is_none_or(|(r, _)| rank < *r) {
                        best = Some((rank, Acceptable { index, offer, charge }));
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
