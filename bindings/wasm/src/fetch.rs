//! The paying client's machine (`PaidFetch`), with the Node binding's names: the glue (`node/lib/fetch.js`)
//! sends what a step asks for with the runtime's `fetch` and feeds back what came of it.

use paywire_core::client::fetch as fetch_core;
use wasm_bindgen::prelude::*;

use crate::errors::{bad_argument, error_value};
use crate::js::{
    bool_member, byte_list, bytes, header_pairs, hook_verdict, hooks_member, member, optional_bytes, pairs_to_js,
    string_member, to_js, u64_member,
};
use crate::messages::SettleResponse;
use crate::payer::{Payer, PaymentHeader};

/// One HTTP call paid once.
#[wasm_bindgen]
pub struct PaidFetch(fetch_core::PaidFetch);

#[wasm_bindgen]
impl PaidFetch {
    /// Starts a call (`request`: `{method, url, headers, body}`; `options`: `{followRedirects,
    /// maxRedirects, alreadyPaid, signInline, hooks, signIn, passFacilitators, refund, refundAmount, rpcUrls}`);
    /// `takeStep()` on the result gives the first step.
    pub fn start(payer: &Payer, request: JsValue, options: JsValue) -> Result<FetchStarted, JsValue> {
        let options = fetch_core::FetchOptions {
            follow_redirects: bool_member(&options, "followRedirects")?.unwrap_or(true),
            max_redirects: u64_member(&options, "maxRedirects")?
                .map_or(fetch_core::DEFAULT_MAX_REDIRECTS, |n| u32::try_from(n).unwrap_or(u32::MAX)),
            already_paid: bool_member(&options, "alreadyPaid")?.unwrap_or(false),
            sign_inline: bool_member(&options, "signInline")?.unwrap_or(true),
            hooks: hooks_member(&options, "hooks")?,
            sign_in: bool_member(&options, "signIn")?.unwrap_or(true),
            pass_facilitators: crate::js::string_list_member(&options, "passFacilitators")?,
            refund: match bool_member(&options, "refund")?.unwrap_or(false) {
                false => None,
                true => Some(
                    crate::js::optional_string(&options, "refundAmount")?
                        .map(|a| a.parse::<u128>())
                        .transpose()
                        .map_err(|_| crate::errors::bad_argument("refundAmount is a decimal number of units"))?,
                ),
            },
            rpc: rpc_member(&options)?,
        };
        let request = fetch_core::FetchRequest {
            method: string_member(&request, "method")?,
            url: string_member(&request, "url")?,
            headers: header_pairs(&member(&request, "headers"))?,
            body: optional_bytes(&member(&request, "body"))?,
        };
        let (call, action) = fetch_core::PaidFetch::start(payer.inner.clone(), request, options);
        Ok(FetchStarted { call: Some(PaidFetch(call)), step: Some(FetchStep(action)) })
    }
    /// A response's status and headers (its body not read yet).
    #[wasm_bindgen(js_name = "feedResponse")]
    pub fn feed_response(&mut self, status: u32, headers: JsValue) -> Result<FetchStep, JsValue> {
        let status =
            u16::try_from(status).map_err(|_| bad_argument(format!("status {status} is not an HTTP status")))?;
        let headers = header_pairs(&headers)?;
        Ok(FetchStep(self.0.resume(fetch_core::FetchInput::Response { status, headers })))
    }
    /// The last response's body.
    #[wasm_bindgen(js_name = "feedBody")]
    pub fn feed_body(&mut self, body: &[u8]) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::Body(body.to_vec())))
    }
    /// The send failed.
    #[wasm_bindgen(js_name = "feedSendFailed")]
    pub fn feed_send_failed(&mut self) -> FetchStep {
        FetchStep(self.0.resume(fetch_core::FetchInput::SendFailed))
    }
    /// The signatures of a `sign` step, in order.
    #[wasm_bindgen(js_name = "feedSignatures")]
    pub fn feed_signatures(&mut self, signatures: JsValue) -> Result<FetchStep, JsValue> {
        let signatures = crate::js::signatures(&signatures)?;
        Ok(FetchStep(self.0.resume(fetch_core::FetchInput::Signatures(signatures))))
    }
    /// The signer failed.
    #[wasm_bindgen(js_name = "feedSignFailed")]
    pub fn feed_sign_failed(&mut self, message: String) -> FetchStep {
        let error = paywire_core::Error::new(paywire_core::ErrorCode::SignerFailed, message);
        FetchStep(self.0.resume(fetch_core::FetchInput::SignFailed(error)))
    }
    /// What the hooks of a `hook` step decided: `{abort, message, failed}` (absent: go on).
    #[wasm_bindgen(js_name = "feedHooked")]
    pub fn feed_hooked(&mut self, verdict: JsValue) -> Result<FetchStep, JsValue> {
        Ok(FetchStep(self.0.resume(fetch_core::FetchInput::Hooked(hook_verdict(&verdict)?))))
    }
}

/// A started call and its first step.
#[wasm_bindgen]
pub struct FetchStarted {
    call: Option<PaidFetch>,
    step: Option<FetchStep>,
}

#[wasm_bindgen]
impl FetchStarted {
    /// Takes the call (once).
    #[wasm_bindgen(js_name = "takeCall")]
    pub fn take_call(&mut self) -> JsValue {
        crate::js::opt(self.call.take())
    }
    /// Takes the first step (once).
    #[wasm_bindgen(js_name = "takeStep")]
    pub fn take_step(&mut self) -> JsValue {
        crate::js::opt(self.step.take())
    }
}

/// What the paying client's glue must do next (`kind`), with the data of that kind.
#[wasm_bindgen]
pub struct FetchStep(pub(crate) fetch_core::FetchAction);

#[wasm_bindgen]
impl FetchStep {
    /// `send`, `readBody`, `sign`, `hook`, `done`, `fail` or `raise`.
    #[wasm_bindgen(getter)]
    pub fn kind(&self) -> String {
        match &self.0 {
            fetch_core::FetchAction::ReadBody => "readBody".into(),
            action => action.name().into(),
        }
    }
    /// `hook`: the point (`beforePaymentCreation`, ...).
    #[wasm_bindgen(getter, js_name = "hookPoint")]
    pub fn hook_point(&self) -> JsValue {
        crate::js::opt(self.0.hook().map(|c| c.point.camel_name()))
    }
    /// `hook`: what the hooks are told (camel-case members as in every language).
    #[wasm_bindgen(getter, js_name = "hookContext")]
    pub fn hook_context(&self) -> JsValue {
        self.0.hook().map_or(JsValue::NULL, |c| to_js(&c.context))
    }
    /// `send`: whether the request is the machine's own (a pass, a chain read): its body is never the caller's.
    #[wasm_bindgen(getter)]
    pub fn own(&self) -> bool {
        self.0.own()
    }
    /// `send`: the most milliseconds the send may take, its answer included (the machine's own requests), or
    /// null (the caller's timeouts).
    #[wasm_bindgen(getter, js_name = "timeoutMs")]
    pub fn timeout_ms(&self) -> JsValue {
        crate::js::opt(self.0.timeout_ms().map(|ms| ms as f64))
    }
    /// `send`: the most bytes to read of its answer's body (the machine's own requests; a longer body is fed
    /// as an empty one), or null (no limit).
    #[wasm_bindgen(getter, js_name = "bodyLimit")]
    pub fn body_limit(&self) -> JsValue {
        crate::js::opt(self.0.body_limit().map(|n| n as f64))
    }
    /// `send`: the method.
    #[wasm_bindgen(getter)]
    pub fn method(&self) -> JsValue {
        crate::js::opt(self.0.request().map(|r| r.method.clone()))
    }
    /// `send`: the URL.
    #[wasm_bindgen(getter)]
    pub fn url(&self) -> JsValue {
        crate::js::opt(self.0.request().map(|r| r.url.clone()))
    }
    /// `send`: the headers, as `[name, value]` pairs.
    #[wasm_bindgen(getter)]
    pub fn headers(&self) -> JsValue {
        self.0.request().map_or(JsValue::NULL, |r| pairs_to_js(&r.headers).into())
    }
    /// `send`: the body (absent: no body).
    #[wasm_bindgen(getter)]
    pub fn body(&self) -> JsValue {
        crate::js::opt(self.0.request().and_then(|r| r.body.as_deref()).map(bytes))
    }
    /// `sign`: the digests to sign, in order.
    #[wasm_bindgen(getter)]
    pub fn digests(&self) -> js_sys::Array {
        byte_list(self.0.digests().iter().map(|d| d.as_slice()))
    }
    /// `fail`: the error to throw (`{code, message, category, payer, refusals}`).
    #[wasm_bindgen(getter)]
    pub fn error(&self) -> JsValue {
        self.0.error().map_or(JsValue::NULL, |e| to_js(&error_value(e)))
    }
    /// `done`, `raise`: the payment sent, if the call paid.
    #[wasm_bindgen(getter)]
    pub fn payment(&self) -> JsValue {
        crate::js::opt(self.0.outcome().and_then(|o| o.payment.clone()).map(PaymentHeader))
    }
    /// `done`, `raise`: the paid request's settlement receipt, when readable.
    #[wasm_bindgen(getter)]
    pub fn settlement(&self) -> JsValue {
        crate::js::opt(self.0.outcome().and_then(|o| o.settlement.clone()).map(SettleResponse))
    }
    /// `done`, `raise`: the status that answered the paid request.
    #[wasm_bindgen(getter, js_name = "paidStatus")]
    pub fn paid_status(&self) -> JsValue {
        crate::js::opt(self.0.outcome().and_then(|o| o.paid_status))
    }
    /// `done`, `raise`: the payment may still settle (a retry of the purchase reuses it).
    #[wasm_bindgen(getter)]
    pub fn open(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.open)
    }
    /// `done`: why a final 402 was not paid (`{code, message, ...}`).
    #[wasm_bindgen(getter)]
    pub fn unpaid(&self) -> JsValue {
        self.0.outcome().and_then(|o| o.unpaid.as_ref()).map_or(JsValue::NULL, |e| to_js(&error_value(e)))
    }
    /// `done`: the final answer came to a pass the payer held, without a payment.
    #[wasm_bindgen(getter, js_name = "passUsed")]
    pub fn pass_used(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.pass_used)
    }
    /// `done`: the final answer came to a sign-in (sign-in-with-x), without a payment.
    #[wasm_bindgen(getter, js_name = "signedIn")]
    pub fn signed_in(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.signed_in)
    }
    /// `done`: the final response's body was read (hand those bytes to the caller).
    #[wasm_bindgen(getter, js_name = "bodyRead")]
    pub fn body_read(&self) -> bool {
        self.0.outcome().is_some_and(|o| o.body_read)
    }
}

/// Names a purchase (method, URL, body digest): a retry of the same purchase reuses its payment.
#[wasm_bindgen(js_name = "purchaseKey")]
pub fn purchase_key(method: String, url: String, body: Option<Vec<u8>>) -> String {
    paywire_core::client::purchase_key(&method, &url, body.as_deref().unwrap_or_default())
}

/// Checks JSON-RPC URLs by network (`{"eip155:<chain id>": url}`) as `PaidFetch.start({rpcUrls})` will:
/// throws `invalid_argument` for a bad network name or a URL not absolute http(s), never showing the URL.
#[wasm_bindgen(js_name = "checkRpcUrls")]
pub fn check_rpc_urls(rpc_urls: JsValue) -> Result<(), JsValue> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &JsValue::from_str("rpcUrls"), &rpc_urls)?;
    rpc_member(&options).map(drop)
}

/// The `rpcUrls` member (`{"eip155:<chain id>": url}`), checked by the core.
fn rpc_member(options: &JsValue) -> Result<paywire_core::client::RpcEndpoints, JsValue> {
    use crate::errors::OrThrow;
    let v = member(options, "rpcUrls");
    if v.is_undefined() || v.is_null() {
        return Ok(paywire_core::client::RpcEndpoints::default());
    }
    let object = v.dyn_ref::<js_sys::Object>().ok_or_else(|| bad_argument("`rpcUrls` must map networks to URLs"))?;
    let entries = js_sys::Object::entries(object)
        .iter()
        .map(|entry| {
            let pair = js_sys::Array::from(&entry);
            match (pair.get(0).as_string(), pair.get(1).as_string()) {
                (Some(network), Some(url)) => Ok((network, url)),
                _ => Err(bad_argument("`rpcUrls` must map networks to URL strings")),
            }
        })
        .collect::<Result<Vec<_>, JsValue>>()?;
    paywire_core::client::RpcEndpoints::new(entries).or_throw()
}
