//! The x402 facilitator HTTP API over axum: `POST /verify`, `POST /settle`, `GET /supported`, `GET /health`.
//!
//! Business failures answer 200 with `isValid: false` / `success: false` and the reason; a request that is
//! not a facilitator request answers 400 with the same shape, so every x402 client reads the reason.

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use paywire_core::codec::MAX_BODY_BYTES;
use paywire_core::types::{FacilitatorRequest, VerifyResponse};

use crate::service::{Facilitator, failure};

/// The router serving `facilitator`.
pub fn router(facilitator: Arc<Facilitator>) -> Router {
    Router::new()
        .route("/verify", post(verify))
        .route("/settle", post(settle))
        .route("/supported", get(supported))
        .route("/health", get(health))
        // A facilitator request holds a payment and an offer: the core refuses anything larger anyway.
        .layer(DefaultBodyLimit::max(2 * MAX_BODY_BYTES))
        .with_state(facilitator)
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn verify(State(f): State<Arc<Facilitator>>, body: String) -> Response {
    match FacilitatorRequest::from_json(&body) {
        Ok(request) => json(StatusCode::OK, f.verify(&request).await.to_json()),
        Err(error) => json(StatusCode::BAD_REQUEST, VerifyResponse::invalid(&error).to_json()),
    }
}

async fn settle(State(f): State<Arc<Facilitator>>, body: String) -> Response {
    match FacilitatorRequest::from_json(&body) {
        Ok(request) => json(StatusCode::OK, f.settle(&request).await.to_json()),
        Err(error) => json(StatusCode::BAD_REQUEST, failure(&error, "").to_json()),
    }
}

async fn supported(State(f): State<Arc<Facilitator>>) -> Response {
    json(StatusCode::OK, serde_json::to_string(&f.supported()).unwrap_or_default())
}

async fn health(State(f): State<Arc<Facilitator>>) -> Response {
    let (settled, succeeded) = f.store().counts().unwrap_or_default();
    let body = serde_json::json!({
        "ok": true,
        "chainId": f.chain_id(),
        "address": f.address().to_checksum(None),
        "settlements": settled,
        "succeeded": succeeded,
    });
    json(StatusCode::OK, body.to_string())
}
