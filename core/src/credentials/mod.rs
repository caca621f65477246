//! Signed credentials of the x402 `offer-receipt` extension: a server's signed offers (in the 402) and signed
//! receipts (in the settlement response), as EIP-712 or as JWS (ES256K), issued with a key and verified
//! offline against a set of trusted signer addresses. A receipt can also serve as a time-limited access
//! credential (see [`access`]).

use crate::prelude::*;

pub mod access;
pub mod jws;

use alloc::sync::Arc;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolStruct;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::crypto::{Signature, recover_address};
use crate::eip712::{self, Offer, Receipt};
use crate::error::{Error, ErrorCode, Result};
use crate::signer::{LocalSigner, Signer, sign_checked};
use crate::types::{PaymentRequired, PaymentRequirements, SettleResponse};
use crate::wire::{Fields, Object, extension_info};
use jws::CanonicalValue;

/// The extension key.
pub const OFFER_RECEIPT: &str = "offer-receipt";

/// The payload version paywire reads and writes.
pub const PAYLOAD_VERSION: u64 = 1;

/// How a credential is signed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredentialFormat {
    /// EIP-712 typed data, domain "x402 offer" / "x402 receipt", version "1", chain id 1.
    Eip712,
    /// Compact JWS, ES256K.
    Jws,
}

impl CredentialFormat {
    /// The wire name: "eip712" or "jws".
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialFormat::Eip712 => "eip712",
            CredentialFormat::Jws => "jws",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "eip712" => Ok(CredentialFormat::Eip712),
            "jws" => Ok(CredentialFormat::Jws),
            other => {
                Err(invalid(format!("format \"{}\" is neither \"eip712\" nor \"jws\"", crate::wire::truncate(other))))
            }
        }
    }
}

/// What a signed offer states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfferPayload {
    /// Payload version (1).
    pub version: u64,
    /// The resource offered.
    pub resource_url: String,
    /// Scheme.
    pub scheme: String,
    /// Network.
    pub network: String,
    /// Token.
    pub asset: String,
    /// Payee.
    pub pay_to: String,
    /// Atomic amount, as a decimal string.
    pub amount: String,
    /// Unix time after which the offer is void (0: no expiry).
    pub valid_until: u64,
}

/// What a signed receipt states.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiptPayload {
    /// Payload version (1).
    pub version: u64,
    /// Network paid on.
    pub network: String,
    /// The resource paid for.
    pub resource_url: String,
    /// Who paid.
    pub payer: String,
    /// Unix time of issue.
    pub issued_at: u64,
    /// Settlement transaction, when disclosed.
    pub transaction: Option<String>,
}

/// A signed statement (an offer or a receipt) as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signed<P> {
    /// EIP-712 or JWS.
    pub format: CredentialFormat,
    /// Offers only: the index of the offer in `accepts` (a hint; not signed).
    pub accept_index: Option<u64>,
    /// The signed statement (for JWS, read from the token).
    pub payload: P,
    /// `0x` + 65 bytes (EIP-712), or the compact JWS.
    pub signature: String,
}

/// A signed offer, as it travels in `PaymentRequired.extensions["offer-receipt"].info.offers`.
pub type SignedOffer = Signed<OfferPayload>;

/// A signed receipt, as it travels in `SettleResponse.extensions["offer-receipt"].info.receipt`.
pub type SignedReceipt = Signed<ReceiptPayload>;

/// What offers and receipts have in common: how they are hashed, canonicalised and read.
pub trait Statement: Sized + Clone {
    /// The EIP-712 domain name ("x402 offer" or "x402 receipt").
    const DOMAIN: &'static str;
    /// What the statement is called in messages.
    const WHAT: &'static str;
    /// The EIP-712 struct.
    type Typed: SolStruct;
    /// The EIP-712 message.
    fn typed(&self) -> Self::Typed;
    /// The payload as the EIP-712 format carries it.
    fn to_json(&self) -> Value;
    /// The payload as the JWS format signs it (sorted keys, compact).
    fn canonical(&self) -> String;
    /// Reads the payload.
    fn from_object(o: &Object) -> Result<Self>;
    /// The payload version.
    fn version(&self) -> u64;

    /// The EIP-712 digest of the statement.
    fn digest(&self) -> B256 {
        eip712::digest(&eip712::credential_domain(Self::DOMAIN).separator(), &self.typed())
    }
}

/// A credential whose signature checked out against the trusted set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified<T> {
    /// The trusted address that signed.
    pub signer: Address,
    /// What it states.
    pub payload: T,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidCredential, msg.into())
}

impl Statement for OfferPayload {
    const DOMAIN: &'static str = "x402 offer";
    const WHAT: &'static str = "offer";
    type Typed = Offer;

    fn version(&self) -> u64 {
        self.version
    }

    fn typed(&self) -> Offer {
        Offer {
            version: U256::from(self.version),
            resourceUrl: self.resource_url.clone(),
            scheme: self.scheme.clone(),
            network: self.network.clone(),
            asset: self.asset.clone(),
            payTo: self.pay_to.clone(),
            amount: self.amount.clone(),
            validUntil: U256::from(self.valid_until),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "version": self.version, "resourceUrl": self.resource_url, "scheme": self.scheme,
            "network": self.network, "asset": self.asset, "payTo": self.pay_to, "amount": self.amount,
            "validUntil": self.valid_until,
        })
    }

    fn canonical(&self) -> String {
        jws::canonical_json(&mut [
            ("version", CanonicalValue::Int(self.version)),
            ("resourceUrl", CanonicalValue::Str(&self.resource_url)),
            ("scheme", CanonicalValue::Str(&self.scheme)),
            ("network", CanonicalValue::Str(&self.network)),
            ("asset", CanonicalValue::Str(&self.asset)),
            ("payTo", CanonicalValue::Str(&self.pay_to)),
            ("amount", CanonicalValue::Str(&self.amount)),
            ("validUntil", CanonicalValue::Int(self.valid_until)),
        ])
    }

    fn from_object(o: &Object) -> Result<Self> {
        let f = Fields::new(o, "offer.payload", ErrorCode::InvalidCredential);
        Ok(OfferPayload {
            version: f.u64("version")?,
            resource_url: f.str("resourceUrl")?.to_string(),
            scheme: f.str("scheme")?.to_string(),
            network: f.str("network")?.to_string(),
            asset: f.str("asset")?.to_string(),
            pay_to: f.str("payTo")?.to_string(),
            amount: f.str("amount")?.to_string(),
            valid_until: f.opt_u64("validUntil")?.unwrap_or(0),
        })
    }
}

impl OfferPayload {
    /// Whether this offer describes `req` (scheme, network, asset, payee, amount equal as strings).
    pub fn describes(&self, req: &PaymentRequirements) -> bool {
        self.scheme == req.scheme()
            && self.network == req.network()
            && self.asset == req.asset()
            && self.pay_to == req.pay_to()
            && self.amount == req.amount().to_string()
    }
}

impl Statement for ReceiptPayload {
    const DOMAIN: &'static str = "x402 receipt";
    const WHAT: &'static str = "receipt";
    type Typed = Receipt;

    fn version(&self) -> u64 {
        self.version
    }

    fn typed(&self) -> Receipt {
        Receipt {
            version: U256::from(self.version),
            network: self.network.clone(),
            resourceUrl: self.resource_url.clone(),
            payer: self.payer.clone(),
            issuedAt: U256::from(self.issued_at),
            transaction: self.transaction.clone().unwrap_or_default(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "version": self.version, "network": self.network, "resourceUrl": self.resource_url,
            "payer": self.payer, "issuedAt": self.issued_at,
            "transaction": self.transaction.clone().unwrap_or_default(),
        })
    }

    fn canonical(&self) -> String {
        let mut members = vec![
            ("version", CanonicalValue::Int(self.version)),
            ("network", CanonicalValue::Str(&self.network)),
            ("resourceUrl", CanonicalValue::Str(&self.resource_url)),
            ("payer", CanonicalValue::Str(&self.payer)),
            ("issuedAt", CanonicalValue::Int(self.issued_at)),
        ];
        if let Some(tx) = self.transaction.as_deref().filter(|t| !t.is_empty()) {
            members.push(("transaction", CanonicalValue::Str(tx)));
        }
        jws::canonical_json(&mut members)
    }

    fn from_object(o: &Object) -> Result<Self> {
        let f = Fields::new(o, "receipt.payload", ErrorCode::InvalidCredential);
        Ok(ReceiptPayload {
            version: f.u64("version")?,
            network: f.str("network")?.to_string(),
            resource_url: f.str("resourceUrl")?.to_string(),
            payer: f.str("payer")?.to_string(),
            issued_at: f.u64("issuedAt")?,
            transaction: f.opt_str("transaction")?.filter(|t| !t.is_empty()).map(str::to_string),
        })
    }
}

/// Reads the (unverified) payload of a JWS as a JSON object.
fn jws_payload(token: &str) -> Result<Object> {
    let middle = token.split('.').nth(1).ok_or_else(|| invalid("the JWS has no payload part"))?;
    let bytes = URL_SAFE_NO_PAD.decode(middle).map_err(|_| invalid("the JWS payload is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| invalid("the JWS payload is not a JSON object"))
}

impl<P: Statement> Signed<P> {
    /// The wire JSON.
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        o.insert("format".into(), json!(self.format.as_str()));
        if let Some(i) = self.accept_index {
            o.insert("acceptIndex".into(), json!(i));
        }
        if self.format == CredentialFormat::Eip712 {
            o.insert("payload".into(), self.payload.to_json());
        }
        o.insert("signature".into(), json!(self.signature));
        Value::Object(o)
    }

    /// Reads a signed statement from JSON text (the signature is not checked here).
    pub fn from_json(text: &str) -> Result<Self> {
        Self::from_value(&parse_text(text, P::WHAT)?)
    }

    /// Reads a signed statement from its wire JSON value (the signature is not checked here).
    pub fn from_value(value: &Value) -> Result<Self> {
        let f = Fields::of(value, P::WHAT, ErrorCode::InvalidCredential)?;
        let format = CredentialFormat::parse(f.str("format")?)?;
        let signature = f.nonempty_str("signature")?.to_string();
        let payload = match format {
            CredentialFormat::Eip712 => P::from_object(f.object_field("payload")?)?,
            CredentialFormat::Jws => P::from_object(&jws_payload(&signature)?)?,
        };
        Ok(Signed { format, accept_index: f.opt_u64("acceptIndex")?, payload, signature })
    }

    /// Checks the signature and that the signer is trusted.
    fn verify_signature(&self, trusted: &[Address]) -> Result<Verified<P>> {
        let (signer, payload) = match self.format {
            CredentialFormat::Eip712 => {
                (recover_trusted(&self.payload.digest(), &self.signature, trusted)?, self.payload.clone())
            }
            CredentialFormat::Jws => {
                let v = jws::verify(&self.signature, trusted)?;
                let o: Object =
                    serde_json::from_str(&v.payload).map_err(|_| invalid("the JWS payload is not a JSON object"))?;
                (v.signer, P::from_object(&o)?)
            }
        };
        if payload.version() != PAYLOAD_VERSION {
            return Err(invalid(format!(
                "payload version {} is not supported; paywire reads version {PAYLOAD_VERSION}",
                payload.version()
            )));
        }
        Ok(Verified { signer, payload })
    }
}

impl SignedOffer {
    /// Checks the signature, that the signer is trusted, and that the offer has not expired at Unix time
    /// `now` (an offer without `validUntil` does not expire).
    pub fn verify(&self, trusted: &[Address], now: u64) -> Result<Verified<OfferPayload>> {
        let verified = self.verify_signature(trusted)?;
        let until = verified.payload.valid_until;
        if until != 0 && now > until {
            return Err(Error::new(ErrorCode::CredentialExpired, format!("the offer expired at {until} (now {now})")));
        }
        Ok(verified)
    }
}

impl SignedReceipt {
    /// Checks the signature and that the signer is trusted.
    pub fn verify(&self, trusted: &[Address]) -> Result<Verified<ReceiptPayload>> {
        self.verify_signature(trusted)
    }

    /// The receipt as a header value (standard base64 of its JSON), for presenting it as an access credential.
    pub fn to_header(&self) -> String {
        crate::codec::encode_json_text(&self.to_json().to_string())
    }

    /// Reads a receipt from a header value.
    pub fn from_header(value: &str) -> Result<Self> {
        Self::from_json(&crate::codec::decode_header_text(value)?)
    }
}

fn parse_text(text: &str, what: &str) -> Result<Value> {
    crate::codec::check_body_size(text.len(), what)?;
    serde_json::from_str(text).map_err(|e| crate::codec::json_error(&e, what))
}

fn recover_trusted(digest: &B256, signature: &str, trusted: &[Address]) -> Result<Address> {
    let bytes = crate::wire::parse_hex_bytes(signature).map_err(invalid)?;
    let sig =
        Signature::normalize(&bytes).map_err(|e| Error::new(ErrorCode::InvalidCredentialSignature, e.message()))?;
    let signer =
        recover_address(digest, &sig).map_err(|e| Error::new(ErrorCode::InvalidCredentialSignature, e.message()))?;
    if !trusted.contains(&signer) {
        return Err(Error::new(
            ErrorCode::UntrustedSigner,
            format!(
                "the credential is signed by {}, which is not a trusted signer (or its contents were altered)",
                signer.to_checksum(None)
            ),
        ));
    }
    Ok(signer)
}

/// Issues signed offers and receipts with one key.
pub struct Issuer {
    signer: Arc<dyn Signer>,
    format: CredentialFormat,
    kid: String,
}

impl Issuer {
    /// An issuer signing with any [`Signer`]; `kid` names the key in JWS headers (e.g. a `did:web` or
    /// `did:key` URL). EIP-712 credentials carry no kid.
    pub fn new(signer: Arc<dyn Signer>, format: CredentialFormat, kid: impl Into<String>) -> Self {
        Issuer { signer, format, kid: kid.into() }
    }

    /// An issuer with a local key; its JWS `kid` is the key's `did:key`, which any verifier can resolve.
    pub fn local(signer: LocalSigner, format: CredentialFormat) -> Self {
        let kid = jws::did_key_kid(&signer.compressed_public_key());
        Issuer { signer: Arc::new(signer), format, kid }
    }

    /// The issuing address (what verifiers put in their trusted set).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    /// The JWS key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Signs an offer for `req` at `accept_index`, valid until `valid_until` (Unix seconds).
    pub fn issue_offer(
        &self,
        req: &PaymentRequirements,
        resource_url: &str,
        accept_index: usize,
        valid_until: u64,
    ) -> Result<SignedOffer> {
        let payload = OfferPayload {
            version: PAYLOAD_VERSION,
            resource_url: resource_url.to_string(),
            scheme: req.scheme().to_string(),
            network: req.network().to_string(),
            asset: req.asset().to_string(),
            pay_to: req.pay_to().to_string(),
            amount: req.amount().to_string(),
            valid_until,
        };
        self.sign(payload, Some(accept_index as u64))
    }

    /// Signs a receipt: `payer` paid for `resource_url` on `network` at `issued_at`, optionally naming the
    /// settlement transaction.
    pub fn issue_receipt(
        &self,
        resource_url: &str,
        payer: &str,
        network: &str,
        transaction: Option<&str>,
        issued_at: u64,
    ) -> Result<SignedReceipt> {
        let payload = ReceiptPayload {
            version: PAYLOAD_VERSION,
            network: network.to_string(),
            resource_url: resource_url.to_string(),
            payer: payer.to_string(),
            issued_at,
            transaction: transaction.filter(|t| !t.is_empty()).map(str::to_string),
        };
        self.sign(payload, None)
    }

    /// Signs any statement in the issuer's format.
    pub fn sign<P: Statement>(&self, payload: P, accept_index: Option<u64>) -> Result<Signed<P>> {
        let signature = match self.format {
            CredentialFormat::Eip712 => sign_checked(self.signer.as_ref(), &payload.digest())?.to_hex(),
            CredentialFormat::Jws => jws::sign(self.signer.as_ref(), &self.kid, &payload.canonical())?,
        };
        Ok(Signed { format: self.format, accept_index, payload, signature })
    }

    /// Signs one offer per entry of the bill and puts them into `extensions["offer-receipt"]`. Offers are
    /// valid for `validity` seconds from `now`, or each offer's `maxTimeoutSeconds` when `None`.
    pub fn sign_bill(&self, bill: &mut PaymentRequired, now: u64, validity: Option<u64>) -> Result<()> {
        let url = match (&bill.resource, bill.accepts.first().and_then(|a| a.resource())) {
            (Some(r), _) => r.url.clone(),
            (None, Some(u)) => u.to_string(),
            (None, None) => return Err(invalid("the bill names no resource URL to sign offers for")),
        };
        let offers = bill
            .accepts
            .iter()
            .enumerate()
            .map(|(i, req)| {
                let until = now.saturating_add(validity.unwrap_or(req.max_timeout_seconds()));
                self.issue_offer(req, &url, i, until)
            })
            .collect::<Result<Vec<_>>>()?;
        bill.extensions.get_or_insert_with(Object::new).insert(OFFER_RECEIPT.into(), offers_extension(&offers));
        Ok(())
    }
}

/// The extension value a bill carries: `{"info": {"offers": [...]}, "schema": ...}`.
pub fn offers_extension(offers: &[SignedOffer]) -> Value {
    json!({"info": {"offers": offers.iter().map(SignedOffer::to_json).collect::<Vec<_>>()}, "schema": offers_schema()})
}

/// The extension value a settlement response carries: `{"info": {"receipt": ...}, "schema": ...}`.
pub fn receipt_extension(receipt: &SignedReceipt) -> Value {
    json!({"info": {"receipt": receipt.to_json()}, "schema": receipt_schema()})
}

/// The JSON Schema of the offers `info`, member for member as the x402 extension publishes it.
fn offers_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"offers": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "format": {"type": "string"},
                "acceptIndex": {"type": "integer"},
                "payload": {
                    "type": "object",
                    "properties": {
                        "version": {"type": "integer"}, "resourceUrl": {"type": "string"}, "scheme": {"type": "string"},
                        "network": {"type": "string"}, "asset": {"type": "string"}, "payTo": {"type": "string"},
                        "amount": {"type": "string"}, "validUntil": {"type": "integer"}
                    },
                    "required": ["version", "resourceUrl", "scheme", "network", "asset", "payTo", "amount"]
                },
                "signature": {"type": "string"}
            },
            "required": ["format", "signature"]
        }}},
        "required": ["offers"]
    })
}

/// The JSON Schema of the receipt `info`, member for member as the x402 extension publishes it.
fn receipt_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"receipt": {
            "type": "object",
            "properties": {
                "format": {"type": "string"},
                "payload": {
                    "type": "object",
                    "properties": {
                        "version": {"type": "integer"}, "network": {"type": "string"}, "resourceUrl": {"type": "string"},
                        "payer": {"type": "string"}, "issuedAt": {"type": "integer"}, "transaction": {"type": "string"}
                    },
                    "required": ["version", "network", "resourceUrl", "payer", "issuedAt"]
                },
                "signature": {"type": "string"}
            },
            "required": ["format", "signature"]
        }},
        "required": ["receipt"]
    })
}

/// The signed offers a bill carries (unverified), in order.
pub fn offers_in(bill: &PaymentRequired) -> Result<Vec<SignedOffer>> {
    let Some(list) = extension_info(bill.extensions.as_ref(), OFFER_RECEIPT).and_then(|i| i.get("offers")) else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or_else(|| invalid("offer-receipt info.offers is not an array"))?;
    list.iter().map(SignedOffer::from_value).collect()
}

/// The signed receipt a settlement response carries (unverified), if any.
pub fn receipt_in(settlement: &SettleResponse) -> Result<Option<SignedReceipt>> {
    extension_info(settlement.extensions.as_ref(), OFFER_RECEIPT)
        .and_then(|i| i.get("receipt"))
        .map(SignedReceipt::from_value)
        .transpose()
}
