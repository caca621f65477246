//! The x402 facilitator HTTP API over axum: `POST /verify`, `POST /settle`, `GET /supported`, `GET /health`,
//! `GET /metrics`.
//!
//! Business failures answer 200 with `isValid: false` / `success: false` and the reason. Every other answer
//! is x402-shaped JSON too: a request that is not a facilitator request (400), too large (413), too slow
//! (408), an unknown path (404) or method (405). Connections that send no headers in time are closed.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use paywire_core::codec::MAX_BODY_BYTES;
use paywire_core::types::{FacilitatorRequest, SettleResponse, VerifyResponse};
use paywire_core::{Error, ErrorCode};

use crate::service::{Facilitator, failure};

/// The most connections served at once.
pub const MAX_CONNECTIONS: usize = 4096;

/// The largest request body: a facilitator request holds one payment and one offer.
pub const MAX_REQUEST_BYTES: usize = 2 * MAX_BODY_BYTES;

/// What the handlers share.
#[derive(Clone)]
struct App {
    facilitator: Arc<Facilitator>,
    body_timeout: Duration,
}

/// The router serving `facilitator`; a request body must arrive within `body_timeout`.
pub fn router(facilitator: Arc<Facilitator>, body_timeout: Duration) -> Router {
    Router::new()
        .route("/verify", post(verify))
        .route("/settle", post(settle))
        .route("/supported", get(supported))
        .route("/passes/transaction", post(pass_for_transaction))
        .route("/passes/settlement", post(pass_for_settlement))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(App { facilitator, body_timeout })
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// An answer that is neither a verify nor a settle answer: `{"error": reason, "message": ...}`.
fn error_json(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, serde_json::json!({ "error": code, "message": message }).to_string())
}

async fn not_found(uri: Uri) -> Response {
    let message = format!(
        "no such endpoint: {}; a facilitator serves POST /verify, POST /settle, GET /supported, \
         POST /passes/transaction, POST /passes/settlement, GET /health and GET /metrics",
        uri.path()
    );
    error_json(StatusCode::NOT_FOUND, "not_found", &message)
}

async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("{} does not take {method}", uri.path());
    error_json(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", &message)
}

/// Which endpoint a refusal of the request itself answers for: it decides the answer's shape.
#[derive(Clone, Copy)]
enum Endpoint {
    Verify,
    Settle,
}

impl Endpoint {
    fn name(self) -> &'static str {
        match self {
            Endpoint::Verify => "verify",
            Endpoint::Settle => "settle",
        }
    }

    fn refuse(self, status: StatusCode, error: &Error) -> Response {
        let body = match self {
            Endpoint::Verify => VerifyResponse::invalid(error).to_json(),
            Endpoint::Settle => failure(error, "").to_json(),
        };
        json(status, body)
    }
}

/// Reads the request body within its size and time limits, or the x402-shaped refusal.
async fn read_request(
    app: &App,
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
) -> Result<FacilitatorRequest, Response> {
    let too_large = || {
        let error = Error::new(
            ErrorCode::BodyTooLarge,
            format!("the request is larger than {MAX_REQUEST_BYTES} bytes; a facilitator request holds one payment"),
        );
        endpoint.refuse(StatusCode::PAYLOAD_TOO_LARGE, &error)
    };
    let declared =
        headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        return Err(too_large());
    }
    let read = tokio::time::timeout(app.body_timeout, Limited::new(body, MAX_REQUEST_BYTES).collect()).await;
    let bytes = match read {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Ok(Err(_)) => {
            let error = Error::new(ErrorCode::InvalidJson, "the request body could not be read");
            return Err(endpoint.refuse(StatusCode::BAD_REQUEST, &error));
        }
        Err(_) => {
            let error = Error::new(
                ErrorCode::InvalidJson,
                format!("the request body did not arrive within {} s", app.body_timeout.as_secs_f32()),
            );
            return Err(endpoint.refuse(StatusCode::REQUEST_TIMEOUT, &error));
        }
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        endpoint.refuse(StatusCode::BAD_REQUEST, &Error::new(ErrorCode::InvalidJson, "the request body is not UTF-8"))
    })?;
    FacilitatorRequest::from_json(text).map_err(|error| endpoint.refuse(StatusCode::BAD_REQUEST, &error))
}

/// The log line and metrics of one verify or settle: what was paid, by whom, and how it ended. Never a
/// signature, a key or a URL.
fn observe(
    app: &App,
    endpoint: Endpoint,
    request: &FacilitatorRequest,
    outcome: &str,
    payer: &str,
    tx: &str,
    started: Instant,
) {
    let elapsed = started.elapsed();
    let metrics = app.facilitator.metrics();
    let labels = crate::metrics::Outcome { endpoint: endpoint.name().into(), outcome: outcome.into() };
    metrics.requests.get_or_create(&labels).inc();
    let labels = crate::metrics::Endpoint { endpoint: endpoint.name().into() };
    metrics.latency.get_or_create(&labels).observe(elapsed.as_secs_f64());
    let r = &request.payment_requirements;
    tracing::info!(
        endpoint = endpoint.name(),
        payer,
        amount = %r.amount(),
        asset = r.asset(),
        network = r.network(),
        outcome,
        transaction = tx,
        latency_ms = elapsed.as_micros() as f64 / 1000.0,
        "x402 {}",
        endpoint.name()
    );
}

async fn verify(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request = match read_request(&app, Endpoint::Verify, &headers, body).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let answer = app.facilitator.verify(&request).await;
    let outcome = if answer.is_valid { "valid" } else { answer.invalid_reason.as_deref().unwrap_or("invalid") };
    observe(&app, Endpoint::Verify, &request, outcome, answer.payer.as_deref().unwrap_or(""), "", started);
    json(StatusCode::OK, answer.to_json())
}

async fn settle(State(app): State<App>, headers: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request = match read_request(&app, Endpoint::Settle, &headers, body).await {
        Ok(request) => request,
        Err(refusal) => return refusal,
    };
    let answer: SettleResponse = app.facilitator.settle(&request).await;
    let outcome = if answer.success { "success" } else { answer.error_reason.as_deref().unwrap_or("failed") };
    let payer = answer.payer.as_deref().unwrap_or("");
    observe(&app, Endpoint::Settle, &request, outcome, payer, &answer.transaction, started);
    json(StatusCode::OK, answer.to_json())
}

/// `POST /passes/transaction`: a pass for a transfer the payer broadcast (`passes.rs`).
async fn pass_for_transaction(State(app): State<App>, body: Body) -> Response {
    let request: crate::passes::TransactionPassRequest = match read_json(&app, body).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let pass = app.facilitator.pass_for_transaction(&request).await;
    tracing::info!(endpoint = "passes/transaction", transaction = %request.transaction, outcome = outcome_of(&pass), "x402 pass");
    pass_answer(&pass)
}

/// `POST /passes/settlement`: a pass for an authorization this facilitator settled (the `/settle` body).
async fn pass_for_settlement(State(app): State<App>, body: Body) -> Response {
    let request: crate::passes::SettlementPassRequest = match read_json(&app, body).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let pass = app.facilitator.pass_for_settlement(&request).await;
    tracing::info!(endpoint = "passes/settlement", outcome = outcome_of(&pass), "x402 pass");
    pass_answer(&pass)
}

/// A pass request's JSON body within the size and time limits, or the refusal (400).
async fn read_json<T: serde::de::DeserializeOwned>(app: &App, body: Body) -> Result<T, Response> {
    let refused = |message: String| {
        let error = Error::new(ErrorCode::InvalidJson, message);
        json(StatusCode::BAD_REQUEST, crate::passes::answer(&Err(error)).to_string())
    };
    let read = tokio::time::timeout(app.body_timeout, Limited::new(body, MAX_REQUEST_BYTES).collect()).await;
    let Ok(Ok(collected)) = read else {
        return Err(refused("the request body could not be read in time and size".into()));
    };
    serde_json::from_slice(&collected.to_bytes())
        .map_err(|e| refused(format!("the request is not a pass request ({e}); see the facilitator's README")))
}

fn outcome_of(pass: &Result<crate::passes::Pass, Error>) -> &'static str {
    match pass {
        Ok(_) => "issued",
        Err(e) => e.code().as_str(),
    }
}

/// A pass endpoint's answer: 200 with the pass; 400 for a malformed request, 404 when no passes are issued
/// here, 409 for a transaction that already bought one, 503 when the chain or the store cannot be asked, else
/// 402 with the reason.
fn pass_answer(pass: &Result<crate::passes::Pass, Error>) -> Response {
    let status = match pass {
        Ok(_) => StatusCode::OK,
        Err(e) => match e.code() {
            ErrorCode::PassesNotOffered => StatusCode::NOT_FOUND,
            ErrorCode::PassTransactionUsed => StatusCode::CONFLICT,
            ErrorCode::FacilitatorUnreachable | ErrorCode::StoreUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            code if code.category() == paywire_core::error::Category::MalformedInput => StatusCode::BAD_REQUEST,
            _ => StatusCode::PAYMENT_REQUIRED,
        },
    };
    json(status, crate::passes::answer(pass).to_string())
}

async fn supported(State(app): State<App>) -> Response {
    json(StatusCode::OK, serde_json::to_string(&app.facilitator.supported()).unwrap_or_default())
}

/// `GET /health`: ready (200) only when every chain's nodes answer; 503 otherwise, naming the chain.
async fn health(State(app): State<App>) -> Response {
    let f = &app.facilitator;
    let mut chains = Vec::new();
    let mut ready = true;
    for (id, chain) in f.chains() {
        let block = chain.block_number().await;
        let up = block.is_ok();
        ready &= up;
        let labels = crate::metrics::ChainLabel { chain: id.to_string() };
        f.metrics().chain_up.get_or_create(&labels).set(i64::from(up));
        let keys: Vec<serde_json::Value> = chain
            .senders()
            .iter()
            .map(|s| {
                serde_json::json!({ "address": s.address().to_checksum(None), "inFlight": s.in_flight(), "held": s.is_held() })
            })
            .collect();
        let mut entry = serde_json::json!({ "chainId": id, "ready": up, "keys": keys });
        match block {
            Ok(n) => entry["block"] = n.into(),
            Err(e) => entry["error"] = e.to_string().into(),
        }
        chains.push(entry);
    }
    let (settled, succeeded) = f.store().counts().await.unwrap_or_default();
    let body = serde_json::json!({
        "ready": ready,
        "chains": chains,
        "settlements": settled,
        "succeeded": succeeded,
        "pending": f.store().pending().await.unwrap_or_default(),
    });
    json(if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, body.to_string())
}

async fn metrics(State(app): State<App>) -> Response {
    let f = &app.facilitator;
    f.metrics().pending.set(f.store().pending().await.unwrap_or_default() as i64);
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], f.metrics().render()).into_response()
}

/// Serves `app` on `listener` until `shutdown` completes, then lets requests in progress finish (up to
/// `grace`). A connection that does not send a request's headers within `header_timeout`, or sits idle
/// between requests that long, is closed, and so is any connection past [`MAX_CONNECTIONS`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    header_timeout: Duration,
    grace: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else {
                    // Out of descriptors, or a connection reset before it was accepted: try again shortly.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                // Past the limit, a new connection is closed at once: the ones being served keep their share.
                let Ok(permit) = connections.clone().try_acquire_owned() else { continue };
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let connection = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
                let connection = graceful.watch(connection);
                tokio::spawn(async move {
                    let _ = connection.await;
                    drop(permit);
                });
            }
            () = &mut shutdown => break,
        }
    }
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}
