//! Signed offers and receipts (the x402 offer-receipt extension) and receipts as access credentials.

use std::sync::Arc;

use paywire_core::credentials::{self as core, CredentialFormat, Statement, access};

use crate::convert::{HttpHeader, address_from, header_pairs};
use crate::error::{Result, bad_argument};
use crate::getters::getters;
use crate::messages::{PaymentRequired, PaymentRequirements, SettleResponse};
use crate::signer::LocalSigner;

fn format_from(format: &str) -> Result<CredentialFormat> {
    match format {
        "eip712" => Ok(CredentialFormat::Eip712),
        "jws" => Ok(CredentialFormat::Jws),
        other => Err(bad_argument(format!("credential format {other:?} is neither \"eip712\" nor \"jws\""))),
    }
}

fn trusted_from(trusted: &[String]) -> Result<Vec<paywire_core::Address>> {
    trusted.iter().map(|a| address_from(a)).collect()
}

fn now_or_system(now: Option<u64>) -> u64 {
    now.unwrap_or_else(|| paywire_core::Clock::now(&paywire_core::SystemClock))
}

/// A credential whose signature checked out: who signed it, and what it says (JSON text).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VerifiedCredential {
    /// The trusted address that signed.
    pub signer: String,
    /// The signed statement as JSON text.
    pub payload_json: String,
}

fn verified<P: Statement>(v: &core::Verified<P>) -> VerifiedCredential {
    VerifiedCredential { signer: v.signer.to_checksum(None), payload_json: v.payload.to_json().to_string() }
}

/// A signed offer (the x402 offer-receipt extension).
#[derive(Debug, uniffi::Object)]
pub struct SignedOffer(core::SignedOffer);

#[uniffi::export]
impl SignedOffer {
    /// Parses a signed offer's JSON text.
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::SignedOffer::from_json(&text)?)))
    }
    /// Checks the signature against trusted addresses and the validity at `now` (default: now).
    #[uniffi::method(default(now = None))]
    pub fn verify(&self, trusted: Vec<String>, now: Option<u64>) -> Result<VerifiedCredential> {
        Ok(verified(&self.0.verify(&trusted_from(&trusted)?, now_or_system(now))?))
    }
    /// Whether the signed offer states exactly this offer.
    pub fn describes(&self, requirements: Arc<PaymentRequirements>) -> bool {
        self.0.payload.describes(&requirements.0)
    }
}

getters!(SignedOffer {
    /// "eip712" or "jws".
    format -> String = |v| v.format.as_str().to_string();
    /// The offer's index in the bill, when stated.
    accept_index -> Option<u64> = |v| v.accept_index;
    /// The signed statement as JSON text.
    payload_json -> String = |v| v.payload.to_json().to_string();
    /// The JSON text.
    to_json -> String = |v| v.to_json().to_string();
});

/// A signed receipt: proof that a payer paid for a resource.
#[derive(Debug, uniffi::Object)]
pub struct SignedReceipt(core::SignedReceipt);

#[uniffi::export]
impl SignedReceipt {
    /// Parses a signed receipt's JSON text.
    #[uniffi::constructor]
    pub fn from_json(text: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::SignedReceipt::from_json(&text)?)))
    }
    /// Parses the header value a receipt travels in as an access credential.
    #[uniffi::constructor]
    pub fn from_header(value: String) -> Result<Arc<Self>> {
        Ok(Arc::new(Self(core::SignedReceipt::from_header(&value)?)))
    }
    /// Checks the signature against trusted addresses.
    pub fn verify(&self, trusted: Vec<String>) -> Result<VerifiedCredential> {
        Ok(verified(&self.0.verify(&trusted_from(&trusted)?)?))
    }
}

getters!(SignedReceipt {
    /// "eip712" or "jws".
    format -> String = |v| v.format.as_str().to_string();
    /// The signed statement as JSON text.
    payload_json -> String = |v| v.payload.to_json().to_string();
    /// The header value that presents the receipt as an access credential.
    to_header -> String = |v| v.to_header();
    /// The JSON text.
    to_json -> String = |v| v.to_json().to_string();
});

/// Signs offers and receipts with a server's key.
#[derive(uniffi::Object)]
pub struct Issuer(Arc<core::Issuer>);

impl Issuer {
    /// The core issuer, shared with a gate.
    pub fn shared(&self) -> Arc<core::Issuer> {
        self.0.clone()
    }
}

#[uniffi::export]
impl Issuer {
    /// An issuer signing in `format` ("eip712" or "jws"); `kid` defaults to the key's `did:key`.
    #[uniffi::constructor(default(format = "eip712", kid = None))]
    pub fn new(signer: Arc<LocalSigner>, format: String, kid: Option<String>) -> Result<Arc<Self>> {
        let format = format_from(&format)?;
        let kid = kid.unwrap_or_else(|| core::jws::did_key_kid(&signer.0.compressed_public_key()));
        Ok(Arc::new(Self(Arc::new(core::Issuer::new(signer.0.clone(), format, kid)))))
    }
    /// Signs an offer of a bill, valid until `valid_until`.
    pub fn issue_offer(
        &self,
        requirements: Arc<PaymentRequirements>,
        resource_url: String,
        accept_index: u32,
        valid_until: u64,
    ) -> Result<Arc<SignedOffer>> {
        let offer = self.0.issue_offer(&requirements.0, &resource_url, accept_index as usize, valid_until)?;
        Ok(Arc::new(SignedOffer(offer)))
    }
    /// Signs a receipt for a settled payment (`issued_at` default: now).
    #[uniffi::method(default(transaction = None, issued_at = None))]
    pub fn issue_receipt(
        &self,
        resource_url: String,
        payer: String,
        network: String,
        transaction: Option<String>,
        issued_at: Option<u64>,
    ) -> Result<Arc<SignedReceipt>> {
        let receipt =
            self.0.issue_receipt(&resource_url, &payer, &network, transaction.as_deref(), now_or_system(issued_at))?;
        Ok(Arc::new(SignedReceipt(receipt)))
    }
    /// A copy of the bill with every offer signed.
    #[uniffi::method(default(now = None, validity = None))]
    pub fn sign_bill(
        &self,
        bill: Arc<PaymentRequired>,
        now: Option<u64>,
        validity: Option<u64>,
    ) -> Result<Arc<PaymentRequired>> {
        let mut signed = bill.0.clone();
        self.0.sign_bill(&mut signed, now_or_system(now), validity)?;
        Ok(Arc::new(PaymentRequired(signed)))
    }
}

getters!(Issuer {
    /// The signing address.
    address -> String = |v| v.address().to_checksum(None);
    /// The key id.
    kid -> String = |v| v.kid().to_string();
});

/// Which receipts grant access to a resource again without paying: signed by a trusted key, for this
/// resource, younger than `lifetime_seconds`.
#[derive(uniffi::Object)]
pub struct AccessPolicy(access::AccessPolicy);

impl AccessPolicy {
    /// The core policy, for a gate.
    pub fn policy(&self) -> access::AccessPolicy {
        self.0.clone()
    }
}

#[uniffi::export]
impl AccessPolicy {
    /// An access policy; `networks` limits the networks a receipt may name.
    #[uniffi::constructor(default(networks = None, max_clock_skew = None))]
    pub fn new(
        trusted: Vec<String>,
        lifetime_seconds: u64,
        networks: Option<Vec<String>>,
        max_clock_skew: Option<u64>,
    ) -> Result<Arc<Self>> {
        let mut policy = access::AccessPolicy::new(trusted_from(&trusted)?, lifetime_seconds);
        policy.networks = networks;
        if let Some(skew) = max_clock_skew {
            policy.max_clock_skew = skew;
        }
        Ok(Arc::new(Self(policy)))
    }
    /// Checks a receipt for a resource at `now` (default: now).
    #[uniffi::method(default(now = None))]
    pub fn check(
        &self,
        receipt: Arc<SignedReceipt>,
        resource_url: String,
        now: Option<u64>,
    ) -> Result<VerifiedCredential> {
        Ok(verified(&self.0.check(&receipt.0, &resource_url, now_or_system(now))?))
    }
    /// The receipt a request presents, checked; `None` when it presents none.
    #[uniffi::method(default(now = None))]
    pub fn check_request(
        &self,
        headers: Vec<HttpHeader>,
        resource_url: String,
        now: Option<u64>,
    ) -> Result<Option<VerifiedCredential>> {
        let v = self.0.check_request(&header_pairs(&headers), &resource_url, now_or_system(now))?;
        Ok(v.map(|v| verified(&v)))
    }
}

/// The signed offers a bill carries.
#[uniffi::export]
pub fn offers_in(bill: Arc<PaymentRequired>) -> Result<Vec<Arc<SignedOffer>>> {
    Ok(core::offers_in(&bill.0)?.into_iter().map(|o| Arc::new(SignedOffer(o))).collect())
}

/// The signed receipt a settlement carries, if any.
#[uniffi::export]
pub fn receipt_in(settlement: Arc<SettleResponse>) -> Result<Option<Arc<SignedReceipt>>> {
    Ok(core::receipt_in(&settlement.0)?.map(|r| Arc::new(SignedReceipt(r))))
}
