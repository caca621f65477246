//! The payer: turns a bill into a payment header under a policy, signing once per purchase.

use crate::prelude::*;
use crate::sync::{Mutex, MutexGuard};
use alloc::collections::VecDeque;
use alloc::sync::Arc;
use portable_atomic::{AtomicU64, Ordering};

use alloy_primitives::{Address, B256, U256};
use serde_json::Value;

use super::chain_read::Sponsorship;
use super::policy::{Charge, Policy, Spent};
use crate::assets::{EXACT_PERMIT2_PROXY, TransferMethod};
use crate::crypto::Signature;
use crate::error::{Error, ErrorCode, Result};
use crate::exact::{
    EIP2612_EXTENSION, Eip2612Permit, Eip3009Authorization, ExactPayload, Permit2Authorization, eip3009_digest,
    permit2_digest,
};
use crate::money::Usd;
use crate::payment_id;
use crate::signer::{Clock, Randomness, Signer, check_signature, sign_checked};
use crate::types::{PaymentPayload, PaymentRequired, PaymentRequirements, ResourceInfo};
use crate::upto::{UptoAuthorization, UptoPayload};
use crate::wire::Object;

/// Seconds by which paywire extends `validBefore` beyond the server's `maxTimeoutSeconds`, so that a payment
/// from a client whose clock runs up to five minutes slow still arrives valid. See [`PayerOptions`].
pub const DEFAULT_EXPIRY_MARGIN: u64 = 300;

/// How far before now an x402 v1 authorization becomes valid (as both official v1 clients do), tolerating a
/// client clock up to ten minutes fast. v2 authorizations are valid from 0, as in both official v2 clients.
pub const V1_VALID_AFTER_LEAD: u64 = 600;

/// A remembered payment is reused only while it stays valid this much longer (verification needs 6 s, the
/// request and settlement need the rest).
pub const REUSE_MARGIN: u64 = 30;

/// Tuning of a [`Payer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayerOptions {
    /// Seconds added to `maxTimeoutSeconds` when choosing `validBefore` (Permit2: `deadline`).
    ///
    /// paywire signs `validAfter = 0` (v2) or `now - 600` (v1) and `validBefore = now + maxTimeoutSeconds +
    /// expiry_margin`. The official clients use a margin of 0; the default of 300 s keeps a payment valid when
    /// the client's clock is behind the facilitator's by up to five minutes, at the price of a payment that
    /// stays settleable five minutes longer. No official verifier bounds `validBefore` from above (the Go
    /// client signs one hour ahead). Set 0 to reproduce the official clients' window.
    pub expiry_margin: u64,
    /// How many purchases are remembered for reuse on retry.
    pub max_remembered: usize,
}

impl Default for PayerOptions {
    fn default() -> Self {
        PayerOptions { expiry_margin: DEFAULT_EXPIRY_MARGIN, max_remembered: 4096 }
    }
}

/// Inputs a payment may need that only the chain knows (the payer reads no chain; the paying machine has its glue
/// read them where the user names an endpoint: [`super::FetchOptions::rpc`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayExtras {
    /// The payer's current EIP-2612 `nonces(owner)` on the token. When given, and the server declares the
    /// `eip2612GasSponsoring` extension for a Permit2 offer, paywire also signs an EIP-2612 permit for Permit2
    /// so the facilitator can approve on the payer's behalf.
    pub eip2612_nonce: Option<U256>,
    /// The token `eip2612_nonce` was read from: when given, a payment of another token signs no permit (a
    /// nonce is per token, and a permit with another token's nonce would only fail at settlement).
    pub eip2612_token: Option<Address>,
    /// The network (`eip155:<chain id>`) `eip2612_nonce` was read on: when given, a payment on another network
    /// signs no permit (the same token address on another chain has its own nonces).
    pub eip2612_network: Option<String>,
}

/// A signed payment, ready to send.
#[derive(Clone, Debug, PartialEq)]
pub struct PaymentHeader {
    /// `PAYMENT-SIGNATURE` (v2) or `X-PAYMENT` (v1).
    pub name: &'static str,
    /// The header value.
    pub value: String,
    /// The payment.
    pub payload: PaymentPayload,
    /// The offer paid.
    pub requirements: PaymentRequirements,
    /// Its index in the bill's `accepts`.
    pub offer_index: usize,
    /// The payer.
    pub payer: Address,
    /// Atomic units authorized.
    pub amount: U256,
    /// The payment is valid strictly before this Unix time.
    pub valid_before: u64,
    /// The `payment-identifier` id, when the server declared the extension.
    pub payment_id: Option<String>,
    /// True when this is a remembered payment for the same purchase, not a new signature.
    pub reused: bool,
}

/// A payment waiting for signatures: sign each digest of [`PreparedPayment::digests`] with the payer's key
/// (possibly asynchronously, in another process or device), then call [`Payer::complete`] once.
#[derive(Clone, Debug)]
pub struct PreparedPayment {
    ticket: u64,
    purchase: Option<String>,
    bill_version: u8,
    requirements: PaymentRequirements,
    resource: Option<ResourceInfo>,
    extensions: Option<Object>,
    offer_index: usize,
    charge: Charge,
    unsigned: Unsigned,
    permit: Option<Eip2612Permit>,
    digests: Vec<B256>,
    payment_id: Option<String>,
    payer: Address,
    valid_before: u64,
}

#[derive(Clone, Debug)]
enum Unsigned {
    Eip3009(Eip3009Authorization),
    Permit2(Permit2Authorization),
    // Boxed: the largest authorization, and the rarest.
    Upto(Box<UptoAuthorization>),
    /// A payment from a batch-settlement channel: a voucher, after a deposit when one is needed.
    Batch(Box<super::channels::BatchUnsigned>),
}

impl PreparedPayment {
    /// The digests to sign, in order: the payment's, then (if any) the EIP-2612 permit's.
    pub fn digests(&self) -> &[B256] {
        &self.digests
    }
    /// The address that must sign.
    pub fn payer(&self) -> Address {
        self.payer
    }
    /// The offer being paid.
    pub fn requirements(&self) -> &PaymentRequirements {
        &self.requirements
    }
}

/// The outcome of [`Payer::prepare`].
#[derive(Clone, Debug)]
pub enum Prepared {
    /// The purchase already has a valid signed payment; send it again.
    Ready(PaymentHeader),
    /// Sign the digests, then [`Payer::complete`].
    NeedsSignatures(PreparedPayment),
}

/// Pays bills: chooses an offer under its [`Policy`], signs it with its [`Signer`], keeps the running
/// budget, and signs at most one live payment per purchase.
///
/// A purchase is whatever the caller names with a purchase key (the HTTP clients use the request's method,
/// URL and body digest). While a purchase's payment is unsettled and valid, paying the same purchase again
/// returns the same payment, so a retried request after a lost response costs one payment, not two. Once a
/// response to the paid request arrives, call [`Payer::forget`]; until then, and while the earlier payment
/// could still be settled, no second payment is signed for the purchase.
pub struct Payer {
    signer: Arc<dyn Signer>,
    policy: Policy,
    clock: Arc<dyn Clock>,
    randomness: Arc<dyn Randomness>,
    options: PayerOptions,
    state: Mutex<State>,
}

/// How many prepared-but-uncompleted payments a payer keeps track of; older ones can no longer complete.
const MAX_PENDING: usize = 4096;

#[derive(Default)]
struct State {
    spent: Spent,
    remembered: VecDeque<(String, PaymentHeader)>,
    pending: VecDeque<u64>,
    /// Passes held, by resource URL: the `X-PAYWIRE-RECEIPT` value and when it stops being presented.
    passes: VecDeque<(String, String, u64)>,
    /// Payments that may buy a pass, asked for on the next call to their resource.
    pending_passes: VecDeque<PendingPass>,
    /// The batch-settlement channels this payer pays from.
    channels: super::channels::ChannelBook,
}

/// How many passes (and payments waiting for one) a payer keeps; the oldest go first.
const MAX_PASSES: usize = 1024;

/// A settled payment that may buy a pass for its resource at a facilitator the user trusts.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PendingPass {
    /// The resource's URL.
    pub resource: String,
    /// The facilitator endpoint to ask.
    pub endpoint: String,
    /// The network paid on.
    pub network: String,
    /// The settlement's transaction.
    pub transaction: String,
    /// The server's signed offer paid (`offer-receipt`), which states the price to the facilitator.
    pub offer: serde_json::Value,
    /// How long the server accepts a pass (0: as long as the facilitator says).
    pub lifetime_seconds: u64,
}

/// Tickets are unique across every payer of the process, so a preparation cannot complete elsewhere.
static TICKETS: AtomicU64 = AtomicU64::new(1);

impl Payer {
    /// A payer signing with `signer` under `policy`, reading time from `clock` and nonces from `randomness`.
    pub fn new(
        signer: Arc<dyn Signer>,
        policy: Policy,
        clock: Arc<dyn Clock>,
        randomness: Arc<dyn Randomness>,
    ) -> Self {
        Payer {
            signer,
            policy,
            clock,
            randomness,
            options: PayerOptions::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// The same payer with other options.
    pub fn with_options(mut self, options: PayerOptions) -> Self {
        self.options = options;
        self
    }

    /// The paying address.
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// Signs a 32-byte digest with the payer's signer, checked to recover to the payer (a sign-in).
    pub(crate) fn sign_digest(&self, digest: &B256) -> Result<crate::crypto::Signature> {
        sign_checked(self.signer.as_ref(), digest)
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What has been spent in known stablecoins.
    pub fn spent_usd(&self) -> Usd {
        self.lock().spent.usd
    }

    /// Restores what was spent in known stablecoins before (e.g. from the previous run of a long-lived
    /// agent), so the running budget survives restarts.
    pub fn restore_spent_usd(&self, spent: Usd) {
        self.lock().spent.usd = spent;
    }

    /// The index of the offer this payer would pay, or the refusal of every offer.
    pub fn select(&self, bill: &PaymentRequired) -> Result<usize> {
        let spent = self.lock().spent.clone();
        self.policy.choose(bill, &spent).map(|a| a.index)
    }

    /// What to read from the chain before paying `bill` for an EIP-2612 permit to go with the payment (see
    /// [`PayExtras`]): `Some` when the bill declares `eip2612GasSponsoring` and the offer this payer would
    /// pay moves its token through Permit2 (`exact` by Permit2, `upto`) and names the token's EIP-712 domain;
    /// `None` also when `purchase` already has a payment to send again (it carries its permit, if any).
    pub fn sponsorship(&self, bill: &PaymentRequired, purchase: Option<&str>) -> Option<Sponsorship> {
        let declared =
            bill.x402_version >= 2 && bill.extensions.as_ref().is_some_and(|x| x.contains_key(EIP2612_EXTENSION));
        if !declared {
            return None;
        }
        let spent = {
            let state = self.lock();
            if purchase.is_some_and(|key| state.remembered.iter().any(|(k, _)| k == key)) {
                return None;
            }
            state.spent.clone()
        };
        let chosen = self.policy.choose(bill, &spent).ok()?;
        let requirements = &bill.accepts[chosen.index];
        let offer = chosen.offer;
        let through_permit2 = chosen.upto.is_some() || offer.method == TransferMethod::Permit2;
        if requirements.scheme() == crate::batch::SCHEME || !through_permit2 {
            return None;
        }
        offer.domain_name.as_ref().and(offer.domain_version.as_ref())?;
        Some(Sponsorship {
            network: requirements.network().to_string(),
            token: offer.asset,
            owner: self.signer.address(),
            amount: offer.amount,
        })
    }

    /// Pays a bill: chooses, signs and encodes. `purchase` names the purchase for reuse on retry.
    pub fn pay(&self, bill: &PaymentRequired, purchase: Option<&str>) -> Result<PaymentHeader> {
        self.pay_with(bill, purchase, &PayExtras::default())
    }

    /// [`Payer::pay`] with chain-provided extras.
    pub fn pay_with(
        &self,
        bill: &PaymentRequired,
        purchase: Option<&str>,
        extras: &PayExtras,
    ) -> Result<PaymentHeader> {
        match self.prepare(bill, purchase, extras)? {
            Prepared::Ready(header) => Ok(header),
            Prepared::NeedsSignatures(prepared) => {
                let signatures = prepared
                    .digests
                    .iter()
                    .map(|d| sign_checked(self.signer.as_ref(), d))
                    .collect::<Result<Vec<_>>>()?;
                self.finish(prepared, signatures)
            }
        }
    }

    /// First half of a payment: choose the offer and build what must be signed.
    pub fn prepare(&self, bill: &PaymentRequired, purchase: Option<&str>, extras: &PayExtras) -> Result<Prepared> {
        let now = self.clock.now();
        let spent = {
            let mut state = self.lock();
            if let Some(key) = purchase
                && let Some(header) = earlier_payment(&mut state, key, bill, now)?
            {
                return Ok(Prepared::Ready(header));
            }
            state.spent.clone()
        };
        let chosen = self.policy.choose(bill, &spent)?;
        let requirements = bill.accepts[chosen.index].clone();
        let offer = chosen.offer;
        let payer = self.signer.address();
        let window = offer.max_timeout_seconds.min(self.policy.max_validity_seconds);
        let valid_before = now.saturating_add(window).saturating_add(self.options.expiry_margin);

        // The authorization nonce is drawn first, so a fixed randomness source fixes the nonce.
        let mut nonce = [0u8; 32];
        self.randomness.fill(&mut nonce)?;
        let mut extensions = if bill.x402_version >= 2 { bill.extensions.clone() } else { None };
        let payment_id = match &extensions {
            Some(x) if payment_id::is_declared(Some(x)) => Some(payment_id::generate(self.randomness.as_ref())?),
            _ => None,
        };
        if let (Some(x), Some(id)) = (extensions.as_mut(), &payment_id) {
            payment_id::attach(x, id)?;
        }

        if requirements.scheme() == crate::batch::SCHEME {
            let context = BatchContext { bill, purchase, requirements, extensions, payment_id, valid_before };
            return self.prepare_batch(chosen.index, context, B256::from(nonce));
        }
        let (unsigned, digest) = match (chosen.upto, offer.method) {
            (Some(facilitator), _) => {
                let auth = UptoAuthorization {
                    from: payer,
                    token: offer.asset,
                    amount: offer.amount,
                    spender: crate::upto::SPENDER,
                    nonce: U256::from_be_bytes(nonce),
                    deadline: U256::from(valid_before),
                    to: offer.pay_to,
                    facilitator,
                    valid_after: U256::ZERO,
                };
                let digest = auth.digest(offer.chain_id);
                (Unsigned::Upto(Box::new(auth)), digest)
            }
            (None, TransferMethod::Permit2) => {
                let auth = Permit2Authorization {
                    from: payer,
                    token: offer.asset,
                    amount: offer.amount,
                    spender: EXACT_PERMIT2_PROXY,
                    nonce: U256::from_be_bytes(nonce),
                    deadline: U256::from(valid_before),
                    to: offer.pay_to,
                    valid_after: U256::ZERO,
                };
                let digest = permit2_digest(offer.chain_id, &auth);
                (Unsigned::Permit2(auth), digest)
            }
            (None, TransferMethod::Eip3009) => {
                let domain = offer.token_domain_separator()?;
                let valid_after = if bill.x402_version >= 2 { 0 } else { now.saturating_sub(V1_VALID_AFTER_LEAD) };
                let auth = Eip3009Authorization {
                    from: payer,
                    to: offer.pay_to,
                    value: offer.amount,
                    valid_after: U256::from(valid_after),
                    valid_before: U256::from(valid_before),
                    nonce: B256::from(nonce),
                };
                let digest = eip3009_digest(&domain, &auth);
                (Unsigned::Eip3009(auth), digest)
            }
        };
        let mut digests = vec![digest];
        let sponsored = extensions.as_ref().is_some_and(|x| x.contains_key(EIP2612_EXTENSION));
        let token_matches = extras.eip2612_token.is_none_or(|t| t == offer.asset)
            && extras.eip2612_network.as_deref().is_none_or(|n| n == requirements.network());
        let permit = match (&unsigned, extras.eip2612_nonce, &offer.domain_name, &offer.domain_version) {
            (Unsigned::Permit2(_) | Unsigned::Upto(_), Some(nonce), Some(name), Some(version))
                if sponsored && token_matches =>
            {
                let permit = Eip2612Permit {
                    token: offer.asset,
                    owner: payer,
                    spender: crate::assets::PERMIT2_ADDRESS,
                    value: offer.amount,
                    nonce,
                    deadline: U256::from(valid_before),
                };
                digests.push(permit.digest(name, version, offer.chain_id));
                Some(permit)
            }
            _ => None,
        };
        let ticket = self.pend_ticket();
        Ok(Prepared::NeedsSignatures(PreparedPayment {
            ticket,
            purchase: purchase.map(str::to_string),
            bill_version: bill.x402_version,
            requirements,
            resource: bill.resource.clone(),
            extensions,
            offer_index: chosen.index,
            charge: chosen.charge,
            unsigned,
            permit,
            digests,
            payment_id,
            payer,
            valid_before,
        }))
    }

    /// A payment from the offer's channel: plans it from what the payer knows of the channel, sizes a deposit
    /// when the balance does not cover the request (as large as the policy allows, at least what is needed),
    /// and counts the deposit (not the vouchers, which spend it) against the budgets.
    fn prepare_batch(&self, offer_index: usize, context: BatchContext<'_>, salt: B256) -> Result<Prepared> {
        let BatchContext { bill, purchase, requirements, extensions, payment_id, valid_before } = context;
        let terms = crate::batch::BatchOffer::resolve(&requirements)?;
        let payer = self.signer.address();
        let now = self.clock.now();
        let (spent, mut plan) = {
            let state = self.lock();
            (
                state.spent.clone(),
                state.channels.plan(&terms, payer, (now, REUSE_MARGIN), valid_before, salt, u128::MAX)?,
            )
        };
        let mut charge = Charge::default();
        // A deposit sent again was judged and counted when first sent, unless another process sent it (its
        // channels imported here): then it is judged and counted now, at its own amount, which cannot change
        // (a second, different deposit could land beside it).
        if let (Some((amount, _, _)), true) = (plan.deposit, plan.resent_uncounted) {
            let at = crate::upto::requirements_at(&requirements, U256::from(amount))?;
            charge = self.policy.judge(&at, &spent).map(|(_, charge, _)| charge).map_err(|reasons| {
                Error::new(
                    ErrorCode::BudgetExceeded,
                    format!(
                        "the channel's deposit of {amount} units, sent by an earlier process whose answer was lost, \
                         may still land and must be sent again as it is, but the payment policy refuses it: {}",
                        reasons.join("; ")
                    ),
                )
            })?;
        } else if let (Some((wished, _, _)), false) = (plan.deposit, plan.resent) {
            let judged = |amount: u128| -> core::result::Result<Charge, Vec<String>> {
                let at =
                    crate::upto::requirements_at(&requirements, U256::from(amount)).map_err(|e| vec![e.to_string()])?;
                self.policy.judge(&at, &spent).map(|(_, charge, _)| charge)
            };
            charge = match judged(wished) {
                Ok(c) => c,
                Err(_) => {
                    // The policy refuses the wished deposit: the largest it allows (halving), at least what this
                    // request needs.
                    let view = self.lock().channels.view(&plan.channel_id);
                    let needed = plan.max_claimable.saturating_sub(view.balance);
                    let mut amount = wished / 2;
                    let found = loop {
                        if amount <= needed {
                            break judged(needed).map(|c| (needed, c));
                        }
                        if let Ok(c) = judged(amount) {
                            break Ok((amount, c));
                        }
                        amount /= 2;
                    };
                    let (amount, c) = found.map_err(|reasons| {
                        Error::new(
                            ErrorCode::NoAcceptableOffer,
                            format!(
                                "the channel needs a deposit of {needed} units, which the payment policy refuses: {}",
                                reasons.join("; ")
                            ),
                        )
                    })?;
                    plan = self.lock().channels.plan(&terms, payer, (now, REUSE_MARGIN), valid_before, salt, amount)?;
                    c
                }
            };
        }
        let digests = plan.digests()?;
        let ticket = self.pend_ticket();
        Ok(Prepared::NeedsSignatures(PreparedPayment {
            ticket,
            purchase: purchase.map(str::to_string),
            bill_version: bill.x402_version,
            requirements,
            resource: bill.resource.clone(),
            extensions,
            offer_index,
            charge,
            unsigned: Unsigned::Batch(Box::new(plan)),
            permit: None,
            digests,
            payment_id,
            payer,
            valid_before,
        }))
    }

    /// A cooperative refund of the channel behind `bill`'s batch-settlement offer (the first one): a voucher
    /// at what the server charged, asking for `amount` back (`None`: everything unclaimed). It pays nothing,
    /// so the spend policy is not asked; the server answers with the refund's receipt, or a corrective 402
    /// when this payer's view of the channel is behind.
    pub fn prepare_refund(&self, bill: &PaymentRequired, amount: Option<u128>) -> Result<Prepared> {
        let Some((offer_index, requirements)) =
            bill.accepts.iter().enumerate().find(|(_, o)| o.scheme() == crate::batch::SCHEME)
        else {
            return Err(Error::new(
                ErrorCode::NoAcceptableOffer,
                "the bill offers no batch-settlement channel, so there is nothing to refund",
            ));
        };
        let terms = crate::batch::BatchOffer::resolve(requirements)?;
        let payer = self.signer.address();
        let plan = self.lock().channels.plan_refund(&terms, payer, amount)?;
        let digests = plan.digests()?;
        let ticket = self.pend_ticket();
        let now = self.clock.now();
        Ok(Prepared::NeedsSignatures(PreparedPayment {
            ticket,
            purchase: None,
            bill_version: bill.x402_version,
            requirements: requirements.clone(),
            resource: bill.resource.clone(),
            extensions: bill.extensions.clone(),
            offer_index,
            charge: Charge::default(),
            unsigned: Unsigned::Batch(Box::new(plan)),
            permit: None,
            digests,
            payment_id: None,
            payer,
            valid_before: now.saturating_add(requirements.max_timeout_seconds().max(60)),
        }))
    }

    /// Takes in the answer to a request paid from a channel (its `PAYMENT-RESPONSE`).
    pub(crate) fn channel_answered(&self, header: &PaymentHeader, settlement: &crate::types::SettleResponse) {
        if header.requirements.scheme() != crate::batch::SCHEME {
            return;
        }
        let Ok(payload) = crate::batch::BatchPayload::parse(header.payload.payload()) else { return };
        let price = u128::try_from(header.requirements.amount()).unwrap_or(u128::MAX);
        self.lock().channels.answered(&payload, price, settlement);
    }

    /// This payer's batch-settlement channels as JSON text, to keep wherever the user chooses (a file, a
    /// database) and give to [`Payer::import_channels`] in the next process: it then pays on from the same
    /// channels without a corrective 402 or a second deposit.
    pub fn export_channels(&self) -> String {
        self.lock().channels.export().to_string()
    }

    /// Takes in channels that [`Payer::export_channels`] wrote (a channel known here takes the view that has
    /// seen more charges). Returns how many were read; a malformed text changes nothing.
    pub fn import_channels(&self, text: &str) -> Result<usize> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| Error::new(ErrorCode::InvalidJson, format!("channel state is not JSON: {e}")))?;
        self.lock().channels.import(&value)
    }

    /// A corrective 402 for one of this payer's channels: whether its state was adopted (pay again).
    pub(crate) fn channel_corrected(&self, bill: &PaymentRequired) -> bool {
        let payer = self.signer.address();
        self.lock().channels.corrected(bill, payer)
    }

    /// Second half of a payment: takes the signatures of [`PreparedPayment::digests`] as the signer returned
    /// them (65 bytes each; `v` 0/1 and high `s` are normalised), checks each recovers to the payer, and
    /// builds the header. A preparation completes once.
    pub fn complete(&self, prepared: PreparedPayment, signatures: &[Vec<u8>]) -> Result<PaymentHeader> {
        if signatures.len() != prepared.digests.len() {
            return Err(Error::new(
                ErrorCode::InvalidPreparedPayment,
                format!("{} signatures given for {} digests", signatures.len(), prepared.digests.len()),
            ));
        }
        let checked = prepared
            .digests
            .iter()
            .zip(signatures)
            .map(|(d, s)| check_signature(prepared.payer, d, s))
            .collect::<Result<Vec<_>>>()?;
        self.finish(prepared, checked)
    }

    fn finish(&self, prepared: PreparedPayment, signatures: Vec<Signature>) -> Result<PaymentHeader> {
        let now = self.clock.now();
        let mut state = self.lock();
        let Some(position) = state.pending.iter().position(|t| *t == prepared.ticket) else {
            return Err(Error::new(
                ErrorCode::InvalidPreparedPayment,
                "this prepared payment was already completed, or was prepared by another payer",
            ));
        };
        state.pending.remove(position);
        if prepared.valid_before <= now.saturating_add(crate::verify::VALID_BEFORE_BUFFER) {
            return Err(Error::new(
                ErrorCode::InvalidPreparedPayment,
                "the prepared payment expired before it was signed; prepare it again",
            ));
        }
        // Another call may have completed a payment for the same purchase meanwhile: that one stands, and
        // this signature is never released, so the purchase is paid once.
        if let Some(key) = &prepared.purchase
            && let Some((_, earlier)) = state.remembered.iter().find(|(k, h)| k == key && h.valid_before > now)
        {
            let mut header = earlier.clone();
            header.reused = true;
            return Ok(header);
        }
        if !self.policy.fits_budget(&state.spent, &prepared.charge) {
            return Err(Error::new(
                ErrorCode::BudgetExceeded,
                "another payment completed first and this one would now exceed the budget",
            ));
        }
        let (purchase, charge) = (prepared.purchase.clone(), prepared.charge.clone());
        let sending = match &prepared.unsigned {
            Unsigned::Batch(plan) => plan.deposit.map(|d| (plan.channel_id, d)),
            _ => None,
        };
        let header = build_header(prepared, signatures)?;
        if let Some((id, deposit)) = sending {
            state.channels.sending(id, deposit);
        }
        state.spent.add(&charge);
        if let Some(key) = purchase {
            state.remembered.retain(|(k, h)| *k != key && h.valid_before > now);
            while state.remembered.len() >= self.options.max_remembered.max(1) {
                state.remembered.pop_front();
            }
            state.remembered.push_back((key, header.clone()));
        }
        Ok(header)
    }

    /// Drops the remembered payment of a purchase (call it once the paid request got a response).
    pub fn forget(&self, purchase: &str) {
        self.lock().remembered.retain(|(k, _)| k != purchase);
    }

    /// Unix time now, by the payer's clock.
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// The pass held for `resource`, if it has not expired.
    pub(crate) fn pass_for(&self, resource: &str) -> Option<String> {
        let now = self.clock.now();
        let mut state = self.lock();
        state.passes.retain(|(_, _, until)| *until > now);
        state.passes.iter().rev().find(|(r, _, _)| r == resource).map(|(_, header, _)| header.clone())
    }

    /// Keeps a pass for `resource` until `until`.
    pub(crate) fn keep_pass(&self, resource: &str, header: String, until: u64) {
        let mut state = self.lock();
        state.passes.retain(|(r, _, _)| r != resource);
        if state.passes.len() >= MAX_PASSES {
            state.passes.pop_front();
        }
        state.passes.push_back((resource.to_string(), header, until));
    }

    /// Forgets the pass for `resource` (the server refused it).
    pub(crate) fn forget_pass(&self, resource: &str) {
        self.lock().passes.retain(|(r, _, _)| r != resource);
    }

    /// Remembers a payment that may buy a pass for its resource.
    pub(crate) fn pend_pass(&self, pending: PendingPass) {
        let mut state = self.lock();
        state.pending_passes.retain(|p| p.resource != pending.resource);
        if state.pending_passes.len() >= MAX_PASSES {
            state.pending_passes.pop_front();
        }
        state.pending_passes.push_back(pending);
    }

    /// Takes the payment waiting for a pass for `resource`, if any.
    pub(crate) fn take_pending_pass(&self, resource: &str) -> Option<PendingPass> {
        let mut state = self.lock();
        let i = state.pending_passes.iter().position(|p| p.resource == resource)?;
        state.pending_passes.remove(i)
    }

    /// A new ticket for a prepared payment, pending until it is completed (the oldest beyond
    /// `MAX_PENDING` is dropped).
    fn pend_ticket(&self) -> u64 {
        let ticket = TICKETS.fetch_add(1, Ordering::Relaxed);
        let mut state = self.lock();
        if state.pending.len() >= MAX_PENDING {
            state.pending.pop_front();
        }
        state.pending.push_back(ticket);
        ticket
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is a single statement, so a panic elsewhere cannot leave it half-done and
        // a poisoned lock is still consistent.
        self.state.lock()
    }
}

/// What a channel payment is prepared from.
struct BatchContext<'a> {
    bill: &'a PaymentRequired,
    purchase: Option<&'a str>,
    requirements: PaymentRequirements,
    extensions: Option<Object>,
    payment_id: Option<String>,
    valid_before: u64,
}

/// The payment already made for a purchase, if it can be sent again; an error if one exists that can still
/// be settled but cannot be reused (too close to expiry, or the bill no longer offers it).
fn earlier_payment(state: &mut State, key: &str, bill: &PaymentRequired, now: u64) -> Result<Option<PaymentHeader>> {
    state.remembered.retain(|(_, h)| h.valid_before > now);
    let Some((_, header)) = state.remembered.iter().find(|(k, _)| k == key) else { return Ok(None) };
    let index = bill.accepts.iter().position(|o| o.raw_json() == header.requirements.raw_json());
    match index {
        Some(index) if header.valid_before >= now.saturating_add(REUSE_MARGIN) => {
            let mut header = header.clone();
            header.offer_index = index;
            header.reused = true;
            Ok(Some(header))
        }
        _ => Err(Error::new(
            ErrorCode::PaymentAlreadyAttempted,
            format!(
                "this purchase was already paid with an authorization that can be settled for {} more seconds{}; \
                 to avoid paying twice, wait until it expires or call forget() once its outcome is known",
                header.valid_before.saturating_sub(now),
                if index.is_none() { " and that the new bill no longer offers" } else { "" }
            ),
        )),
    }
}

fn build_header(prepared: PreparedPayment, signatures: Vec<Signature>) -> Result<PaymentHeader> {
    if let Unsigned::Batch(plan) = prepared.unsigned {
        let object = plan.payload(&signatures)?;
        let payload =
            PaymentPayload::new_v2(&prepared.requirements, prepared.resource.as_ref(), object, prepared.extensions)?;
        return Ok(PaymentHeader {
            name: payload.header_name(),
            value: payload.to_header(),
            payload,
            amount: prepared.requirements.amount(),
            requirements: prepared.requirements,
            offer_index: prepared.offer_index,
            payer: prepared.payer,
            valid_before: prepared.valid_before,
            payment_id: prepared.payment_id,
            reused: false,
        });
    }
    let mut sigs = signatures.into_iter();
    let main = sigs.next().ok_or_else(|| Error::new(ErrorCode::InvalidPreparedPayment, "no signature given"))?;
    let signature = main.as_bytes().to_vec();
    let (scheme_payload, amount) = match prepared.unsigned {
        Unsigned::Eip3009(auth) => {
            let amount = auth.value;
            (ExactPayload::Eip3009 { authorization: auth, signature }.to_object(), amount)
        }
        Unsigned::Permit2(auth) => {
            let amount = auth.amount;
            (ExactPayload::Permit2 { authorization: auth, signature }.to_object(), amount)
        }
        Unsigned::Upto(auth) => {
            let amount = auth.amount;
            (UptoPayload { authorization: *auth, signature }.to_object(), amount)
        }
        Unsigned::Batch(_) => {
            return Err(Error::new(ErrorCode::InvalidPreparedPayment, "a channel payment was built twice"));
        }
    };
    let mut extensions = prepared.extensions;
    if let (Some(permit), Some(sig)) = (&prepared.permit, sigs.next())
        && let Some(ext) = extensions.as_mut()
    {
        merge_client_info(ext, EIP2612_EXTENSION, permit.extension_info(&sig));
    }
    let payload = if prepared.bill_version >= 2 {
        PaymentPayload::new_v2(&prepared.requirements, prepared.resource.as_ref(), scheme_payload, extensions)?
    } else {
        PaymentPayload::new_v1(prepared.requirements.scheme(), prepared.requirements.network(), scheme_payload)?
    };
    Ok(PaymentHeader {
        name: payload.header_name(),
        value: payload.to_header(),
        payload,
        requirements: prepared.requirements,
        offer_index: prepared.offer_index,
        payer: prepared.payer,
        amount,
        valid_before: prepared.valid_before,
        payment_id: prepared.payment_id,
        reused: false,
    })
}

/// Adds the client's `info` members to an extension the server declared, after the server's own members
/// (which are kept as they are), as the official clients merge them.
fn merge_client_info(extensions: &mut Object, key: &str, client_info: Object) {
    let Some(Value::Object(ext)) = extensions.get_mut(key) else { return };
    let info = ext.entry("info").or_insert_with(|| Value::Object(Object::new()));
    if let Value::Object(info) = info {
        for (k, v) in client_info {
            info.entry(k).or_insert(v);
        }
    }
}

impl core::fmt::Debug for Payer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Payer")
            .field("address", &self.address().to_checksum(None))
            .field("policy", &self.policy)
            .finish()
    }
}
