//! Signed offers and receipts (the x402 offer-receipt extension) and receipts as access credentials, with
//! the Node binding's names. Where it takes objects by reference in a list, this binding takes copies.

use alloc::sync::Arc;

use paywire_core::credentials::{self as core, CredentialFormat, Statement, access};
use wasm_bindgen::prelude::*;

use crate::errors::{OrThrow, bad_argument};
use crate::js::{header_pairs, json_value, opt, to_js, u64_member};
use crate::messages::{PaymentRequired, PaymentRequirements, SettleResponse};
use crate::payer::LocalSigner;

extern crate alloc;

fn format_from(format: Option<String>) -> Result<CredentialFormat, JsValue> {
    match format.as_deref().unwrap_or("eip712") {
        "eip712" => Ok(CredentialFormat::Eip712),
        "jws" => Ok(CredentialFormat::Jws),
        other => Err(bad_argument(format!("credential format {other:?} is neither \"eip712\" nor \"jws\""))),
    }
}

fn trusted_from(trusted: Vec<String>) -> Result<Vec<paywire_core::Address>, JsValue> {
    trusted
        .iter()
        .map(|a| paywire_core::wire::parse_address(a).map_err(|e| bad_argument(format!("a trusted signer: {e}"))))
        .collect()
}

fn verified<P: Statement>(v: &core::Verified<P>) -> JsValue {
    to_js(&serde_json::json!({"signer": v.signer.to_checksum(None), "payload": v.payload.to_json()}))
}

fn now_or_host(now: Option<f64>) -> Result<u64, JsValue> {
    crate::exchange::now_or_host(now)
}

/// A signed offer (the x402 offer-receipt extension).
#[wasm_bindgen]
#[derive(Clone)]
pub struct SignedOffer(core::SignedOffer);

#[wasm_bindgen]
impl SignedOffer {
    /// From its JSON object.
    #[wasm_bindgen(js_name = "fromObject")]
    pub fn from_object(value: JsValue) -> Result<SignedOffer, JsValue> {
        core::SignedOffer::from_value(&json_value(&value)?).or_throw().map(Self)
    }
    /// From its JSON text.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<SignedOffer, JsValue> {
        core::SignedOffer::from_json(&text).or_throw().map(Self)
    }
    /// Checks the signature and validity: `{signer, payload}`.
    pub fn verify(&self, trusted: Vec<String>, now: Option<f64>) -> Result<JsValue, JsValue> {
        let v = self.0.verify(&trusted_from(trusted)?, now_or_host(now)?).or_throw()?;
        Ok(verified(&v))
    }
    /// Whether it describes this offer.
    pub fn describes(&self, requirements: &PaymentRequirements) -> bool {
        self.0.payload.describes(&requirements.0)
    }
    /// As a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        to_js(&self.0.to_json())
    }
    /// `"eip712"` or `"jws"`.
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        self.0.format.as_str().to_string()
    }
    /// The index of the offer it signs in the bill.
    #[wasm_bindgen(getter, js_name = "acceptIndex")]
    pub fn accept_index(&self) -> JsValue {
        opt(self.0.accept_index.map(|i| i as f64))
    }
    /// What it says.
    #[wasm_bindgen(getter)]
    pub fn payload(&self) -> JsValue {
        to_js(&self.0.payload.to_json())
    }
}

/// A signed receipt (the x402 offer-receipt extension), also an access credential.
#[wasm_bindgen]
#[derive(Clone)]
pub struct SignedReceipt(core::SignedReceipt);

#[wasm_bindgen]
impl SignedReceipt {
    /// From its JSON object.
    #[wasm_bindgen(js_name = "fromObject")]
    pub fn from_object(value: JsValue) -> Result<SignedReceipt, JsValue> {
        core::SignedReceipt::from_value(&json_value(&value)?).or_throw().map(Self)
    }
    /// From its JSON text.
    #[wasm_bindgen(js_name = "fromJson")]
    pub fn from_json(text: String) -> Result<SignedReceipt, JsValue> {
        core::SignedReceipt::from_json(&text).or_throw().map(Self)
    }
    /// From an `X-PAYWIRE-RECEIPT` header value.
    #[wasm_bindgen(js_name = "fromHeader")]
    pub fn from_header(value: String) -> Result<SignedReceipt, JsValue> {
        core::SignedReceipt::from_header(&value).or_throw().map(Self)
    }
    /// Checks the signature: `{signer, payload}`.
    pub fn verify(&self, trusted: Vec<String>) -> Result<JsValue, JsValue> {
        let v = self.0.verify(&trusted_from(trusted)?).or_throw()?;
        Ok(verified(&v))
    }
    /// The `X-PAYWIRE-RECEIPT` header value.
    #[wasm_bindgen(js_name = "toHeader")]
    pub fn to_header(&self) -> String {
        self.0.to_header()
    }
    /// As a plain object.
    #[wasm_bindgen(js_name = "toJSON")]
    pub fn to_json_value(&self) -> JsValue {
        to_js(&self.0.to_json())
    }
    /// `"eip712"` or `"jws"`.
    #[wasm_bindgen(getter)]
    pub fn format(&self) -> String {
        self.0.format.as_str().to_string()
    }
    /// What it says.
    #[wasm_bindgen(getter)]
    pub fn payload(&self) -> JsValue {
        to_js(&self.0.payload.to_json())
    }
}

/// Issues signed offers and receipts with one key (a `LocalSigner`).
#[wasm_bindgen]
pub struct Issuer(pub(crate) Arc<core::Issuer>);

#[wasm_bindgen]
impl Issuer {
    /// An issuer; `format` is "eip712" (default) or "jws"; `kid` defaults to the key's `did:key`.
    #[wasm_bindgen(constructor)]
    pub fn new(signer: &LocalSigner, format: Option<String>, kid: Option<String>) -> Result<Issuer, JsValue> {
        let format = format_from(format)?;
        let kid = kid.unwrap_or_else(|| core::jws::did_key_kid(&signer.0.compressed_public_key()));
        Ok(Self(Arc::new(core::Issuer::new(signer.0.clone(), format, kid))))
    }
    /// Signs one offer of a bill.
    #[wasm_bindgen(js_name = "issueOffer")]
    pub fn issue_offer(
        &self,
        requirements: &PaymentRequirements,
        resource_url: String,
        accept_index: u32,
        valid_until: f64,
    ) -> Result<SignedOffer, JsValue> {
        let valid_until = now_or_host(Some(valid_until))?;
        self.0
            .issue_offer(&requirements.0, &resource_url, accept_index as usize, valid_until)
            .or_throw()
            .map(SignedOffer)
    }
    /// Signs a receipt for a settled payment.
    #[wasm_bindgen(js_name = "issueReceipt")]
    pub fn issue_receipt(
        &self,
        resource_url: String,
        payer: String,
        network: String,
        transaction: Option<String>,
        issued_at: Option<f64>,
    ) -> Result<SignedReceipt, JsValue> {
        self.0
            .issue_receipt(&resource_url, &payer, &network, transaction.as_deref(), now_or_host(issued_at)?)
            .or_throw()
            .map(SignedReceipt)
    }
    /// A copy of the bill with every offer signed.
    #[wasm_bindgen(js_name = "signBill")]
    pub fn sign_bill(
        &self,
        bill: &PaymentRequired,
        now: Option<f64>,
        validity: Option<f64>,
    ) -> Result<PaymentRequired, JsValue> {
        let mut signed = bill.0.clone();
        let validity = validity.map(|v| now_or_host(Some(v))).transpose()?;
        self.0.sign_bill(&mut signed, now_or_host(now)?, validity).or_throw()?;
        Ok(PaymentRequired(signed))
    }
    /// A handle on the same issuer, for the calls that take issuers by value (`wasm/native.js` passes one).
    pub fn copy(&self) -> Issuer {
        Issuer(self.0.clone())
    }
    /// The issuing address.
    #[wasm_bindgen(getter)]
    pub fn address(&self) -> String {
        self.0.address().to_checksum(None)
    }
    /// The key id.
    #[wasm_bindgen(getter)]
    pub fn kid(&self) -> String {
        self.0.kid().to_string()
    }
}

/// Which receipts a server accepts instead of a new payment.
#[wasm_bindgen]
pub struct AccessPolicy(pub(crate) Arc<access::AccessPolicy>);

#[wasm_bindgen]
impl AccessPolicy {
    /// Receipts signed by `trusted` addresses, for `lifetimeSeconds` after issue; `options`: `{networks,
    /// maxClockSkew}`.
    #[wasm_bindgen(constructor)]
    pub fn new(trusted: Vec<String>, lifetime_seconds: u32, options: JsValue) -> Result<AccessPolicy, JsValue> {
        let mut policy = access::AccessPolicy::new(trusted_from(trusted)?, u64::from(lifetime_seconds));
        let networks = crate::js::member(&options, "networks");
        if !crate::js::absent(&networks) {
            let list =
                networks.dyn_ref::<js_sys::Array>().ok_or_else(|| bad_argument("`networks` must be an array"))?;
            policy.networks = Some(
                list.iter()
                    .map(|n| n.as_string().ok_or_else(|| bad_argument("a network is a string")))
                    .collect::<Result<_, _>>()?,
            );
        }
        if let Some(skew) = u64_member(&options, "maxClockSkew")? {
            policy.max_clock_skew = skew;
        }
        Ok(Self(Arc::new(policy)))
    }
    /// A handle on the same policy (see `Issuer.copy`).
    pub fn copy(&self) -> AccessPolicy {
        AccessPolicy(self.0.clone())
    }
    /// Checks a receipt for a resource: `{signer, payload}`.
    pub fn check(&self, receipt: &SignedReceipt, resource_url: String, now: Option<f64>) -> Result<JsValue, JsValue> {
        let v = self.0.check(&receipt.0, &resource_url, now_or_host(now)?).or_throw()?;
        Ok(verified(&v))
    }
    /// The receipt a request presents (`X-PAYWIRE-RECEIPT`), checked; `null` when it presents none.
    #[wasm_bindgen(js_name = "checkRequest")]
    pub fn check_request(&self, headers: JsValue, resource_url: String, now: Option<f64>) -> Result<JsValue, JsValue> {
        let headers = header_pairs(&headers)?;
        let v = self.0.check_request(&headers, &resource_url, now_or_host(now)?).or_throw()?;
        Ok(v.map_or(JsValue::NULL, |v| verified(&v)))
    }
}

/// The signed offers a bill carries.
#[wasm_bindgen(js_name = "offersIn")]
pub fn offers_in(bill: &PaymentRequired) -> Result<Vec<SignedOffer>, JsValue> {
    Ok(core::offers_in(&bill.0).or_throw()?.into_iter().map(SignedOffer).collect())
}

/// The signed receipt a settlement carries, if any.
#[wasm_bindgen(js_name = "receiptIn")]
pub fn receipt_in(settlement: &SettleResponse) -> Result<JsValue, JsValue> {
    Ok(opt(core::receipt_in(&settlement.0).or_throw()?.map(SignedReceipt)))
}

/// The settlement extension that carries a receipt.
#[wasm_bindgen(js_name = "receiptExtension")]
pub fn receipt_extension(receipt: &SignedReceipt) -> JsValue {
    to_js(&core::receipt_extension(&receipt.0))
}
