//! Signed offers and receipts (the x402 offer-receipt extension) and receipts as access credentials.

use std::sync::Arc;

use napi_derive::napi;
use paywire_core::credentials::{self as core, CredentialFormat, Statement, access};
use serde_json::{Value, json};

use crate::convert::{address_from, header_pairs, now_or_system};
use crate::errors::{OrThrow, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentRequired, PaymentRequirements, SettleResponse};
use crate::payer::LocalSigner;

fn format_from(format: Option<String>) -> napi::Result<CredentialFormat> {
    match format.as_deref().unwrap_or("eip712") {
        "eip712" => Ok(CredentialFormat::Eip712),
        "jws" => Ok(CredentialFormat::Jws),
        other => Err(bad_argument(format!("credential format {other:?} is neither \"eip712\" nor \"jws\""))),
    }
}

fn trusted_from(trusted: Vec<String>) -> napi::Result<Vec<paywire_core::Address>> {
    trusted.iter().map(|a| address_from(a)).collect()
}

fn verified<P: Statement>(v: &core::Verified<P>) -> Value {
    json!({"signer": v.signer.to_checksum(None), "payload": v.payload.to_json()})
}

/// A signed offer (the x402 offer-receipt extension).
#[napi]
#[derive(Clone)]
pub struct SignedOffer(core::SignedOffer);

#[napi]
impl SignedOffer {
    /// From its JSON object.
    #[napi(factory)]
    pub fn from_object(value: Value) -> napi::Result<Self> {
        core::SignedOffer::from_value(&value).or_throw().map(Self)
    }
    /// From its JSON text.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::SignedOffer::from_json(&text).or_throw().map(Self)
    }
    /// Checks the signature and validity: `{signer, payload}`.
    #[napi]
    pub fn verify(&self, trusted: Vec<String>, now: Option<i64>) -> napi::Result<Value> {
        let v = self.0.verify(&trusted_from(trusted)?, now_or_system(now)?).or_throw()?;
        Ok(verified(&v))
    }
    /// Whether it describes this offer.
    #[napi]
    pub fn describes(&self, requirements: &PaymentRequirements) -> bool {
        self.0.payload.describes(&requirements.0)
    }
    /// As a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        self.0.to_json()
    }
}

getters!(SignedOffer {
    #[doc = "\"eip712\" or \"jws\"."]
    format -> String = |v| v.format.as_str().to_string();
    #[doc = "The index of the offer it signs in the bill."]
    accept_index -> Option<i64> = |v| v.accept_index.map(|i| i64::try_from(i).unwrap_or(i64::MAX));
    #[doc = "What it says."]
    payload -> Value = |v| v.payload.to_json();
});

/// A signed receipt (the x402 offer-receipt extension), also an access credential.
#[napi]
#[derive(Clone)]
pub struct SignedReceipt(core::SignedReceipt);

#[napi]
impl SignedReceipt {
    /// From its JSON object.
    #[napi(factory)]
    pub fn from_object(value: Value) -> napi::Result<Self> {
        core::SignedReceipt::from_value(&value).or_throw().map(Self)
    }
    /// From its JSON text.
    #[napi(factory)]
    pub fn from_json(text: String) -> napi::Result<Self> {
        core::SignedReceipt::from_json(&text).or_throw().map(Self)
    }
    /// From an `X-PAYWIRE-RECEIPT` header value.
    #[napi(factory)]
    pub fn from_header(value: String) -> napi::Result<Self> {
        core::SignedReceipt::from_header(&value).or_throw().map(Self)
    }
    /// Checks the signature: `{signer, payload}`.
    #[napi]
    pub fn verify(&self, trusted: Vec<String>) -> napi::Result<Value> {
        let v = self.0.verify(&trusted_from(trusted)?).or_throw()?;
        Ok(verified(&v))
    }
    /// The `X-PAYWIRE-RECEIPT` header value.
    #[napi]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// As a plain object.
    #[napi(js_name = "toJSON")]
    pub fn to_json_value(&self) -> Value {
        self.0.to_json()
    }
}

getters!(SignedReceipt {
    #[doc = "\"eip712\" or \"jws\"."]
    format -> String = |v| v.format.as_str().to_string();
    #[doc = "What it says."]
    payload -> Value = |v| v.payload.to_json();
});

/// Issues signed offers and receipts with one key (a `LocalSigner`: issuing happens inside a request, so
/// the key must sign synchronously).
#[napi]
pub struct Issuer(Arc<core::Issuer>);

impl Issuer {
    /// The core issuer, shared with a gate.
    pub fn shared(&self) -> Arc<core::Issuer> {
        self.0.clone()
    }
}

#[napi]
impl Issuer {
    /// An issuer; `format` is "eip712" (default) or "jws"; `kid` defaults to the key's `did:key`.
    #[napi(constructor)]
    pub fn new(signer: &LocalSigner, format: Option<String>, kid: Option<String>) -> napi::Result<Self> {
        let format = format_from(format)?;
        let kid = kid.unwrap_or_else(|| core::jws::did_key_kid(&signer.0.compressed_public_key()));
        Ok(Self(Arc::new(core::Issuer::new(signer.0.clone(), format, kid))))
    }
    /// Signs one offer of a bill.
    #[napi]
    pub fn issue_offer(
        &self,
        requirements: &PaymentRequirements,
        resource_url: String,
        accept_index: u32,
        valid_until: i64,
    ) -> napi::Result<SignedOffer> {
        let valid_until = now_or_system(Some(valid_until))?;
        self.0
            .issue_offer(&requirements.0, &resource_url, accept_index as usize, valid_until)
            .or_throw()
            .map(SignedOffer)
    }
    /// Signs a receipt for a settled payment.
    #[napi]
    pub fn issue_receipt(
        &self,
        resource_url: String,
        payer: String,
        network: String,
        transaction: Option<String>,
        issued_at: Option<i64>,
    ) -> napi::Result<SignedReceipt> {
        self.0
            .issue_receipt(&resource_url, &payer, &network, transaction.as_deref(), now_or_system(issued_at)?)
            .or_throw()
            .map(SignedReceipt)
    }
    /// A copy of the bill with every offer signed.
    #[napi]
    pub fn sign_bill(
        &self,
        bill: &PaymentRequired,
        now: Option<i64>,
        validity: Option<i64>,
    ) -> napi::Result<PaymentRequired> {
        let mut signed = bill.0.clone();
        let validity = validity.map(|v| now_or_system(Some(v))).transpose()?;
        self.0.sign_bill(&mut signed, now_or_system(now)?, validity).or_throw()?;
        Ok(PaymentRequired(signed))
    }
}

getters!(Issuer {
    #[doc = "The issuing address."]
    address -> String = |v| v.address().to_checksum(None);
    #[doc = "The key id."]
    kid -> String = |v| v.kid().to_string();
});

/// Options of an access policy.
#[napi(object)]
pub struct AccessPolicyOptions {
    /// Only receipts for these networks.
    pub networks: Option<Vec<String>>,
    /// Seconds of clock difference tolerated (default 60).
    pub max_clock_skew: Option<u32>,
}

/// Which receipts a server accepts instead of a new payment.
#[napi]
pub struct AccessPolicy(Arc<access::AccessPolicy>);

impl AccessPolicy {
    /// The core policy, for a gate.
    pub fn policy(&self) -> access::AccessPolicy {
        (*self.0).clone()
    }
}

#[napi]
impl AccessPolicy {
    /// Receipts signed by `trusted` addresses, for `lifetimeSeconds` after issue.
    #[napi(constructor)]
    pub fn new(
        trusted: Vec<String>,
        lifetime_seconds: u32,
        options: Option<AccessPolicyOptions>,
    ) -> napi::Result<Self> {
        let mut policy = access::AccessPolicy::new(trusted_from(trusted)?, u64::from(lifetime_seconds));
        if let Some(options) = options {
            policy.networks = options.networks;
            if let Some(skew) = options.max_clock_skew {
                policy.max_clock_skew = u64::from(skew);
            }
        }
        Ok(Self(Arc::new(policy)))
    }
    /// Checks a receipt for a resource: `{signer, payload}`.
    #[napi]
    pub fn check(&self, receipt: &SignedReceipt, resource_url: String, now: Option<i64>) -> napi::Result<Value> {
        let v = self.0.check(&receipt.0, &resource_url, now_or_system(now)?).or_throw()?;
        Ok(verified(&v))
    }
    /// The receipt a request presents (`X-PAYWIRE-RECEIPT`), checked; `null` when it presents none.
    #[napi]
    pub fn check_request(
        &self,
        #[napi(ts_arg_type = "HeadersLike")] headers: Vec<Vec<String>>,
        resource_url: String,
        now: Option<i64>,
    ) -> napi::Result<Option<Value>> {
        let headers = header_pairs(headers)?;
        let v = self.0.check_request(&headers, &resource_url, now_or_system(now)?).or_throw()?;
        Ok(v.map(|v| verified(&v)))
    }
}

/// The signed offers a bill carries.
#[napi]
pub fn offers_in(bill: &PaymentRequired) -> napi::Result<Vec<SignedOffer>> {
    Ok(core::offers_in(&bill.0).or_throw()?.into_iter().map(SignedOffer).collect())
}

/// The signed receipt a settlement carries, if any.
#[napi]
pub fn receipt_in(settlement: &SettleResponse) -> napi::Result<Option<SignedReceipt>> {
    Ok(core::receipt_in(&settlement.0).or_throw()?.map(SignedReceipt))
}

/// The settlement extension that carries a receipt.
#[napi]
pub fn receipt_extension(receipt: &SignedReceipt) -> Value {
    core::receipt_extension(&receipt.0)
}

/// `X-PAYWIRE-RECEIPT`.
#[napi]
pub const RECEIPT_HEADER: &str = access::RECEIPT_HEADER;
