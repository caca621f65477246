//! Prometheus metrics for `GET /metrics`: requests and outcomes by reason, latency, settlements pending,
//! gas spent per chain and key, and the keeper's repairs.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A request's labels: the endpoint and its outcome (`valid`, `success` or the x402 reason).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Outcome {
    /// `verify` or `settle`.
    pub endpoint: String,
    /// `valid`, `success`, or the reason of a refusal.
    pub outcome: String,
}

/// An endpoint's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Endpoint {
    /// `verify` or `settle`.
    pub endpoint: String,
}

/// A settling key's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Key {
    /// The chain id.
    pub chain: String,
    /// The key's address.
    pub key: String,
}

/// A keeper repair's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Repair {
    /// The chain id.
    pub chain: String,
    /// The key's address.
    pub key: String,
    /// `rebroadcast`, `replaced` or `filled`.
    pub action: String,
}

/// The chain label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChainLabel {
    /// The chain id.
    pub chain: String,
}

/// Every metric, registered once.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and outcome.
    pub requests: Family<Outcome, Counter>,
    /// Request latency by endpoint, in seconds.
    pub latency: Family<Endpoint, Histogram>,
    /// Settlements sent and not concluded (set at each scrape).
    pub pending: Gauge,
    /// Gas used by mined settlements, per chain and key.
    pub gas_used: Family<Key, Counter>,
    /// Wei paid for gas by mined settlements, per chain and key.
    pub gas_wei: Family<Key, Counter<f64, AtomicU64>>,
    /// The keeper's repairs.
    pub repairs: Family<Repair, Counter>,
    /// Whether each chain's nodes answered the last health check (1) or not (0).
    pub chain_up: Family<ChainLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("paywire_facilitator");
        let requests = Family::<Outcome, Counter>::default();
        registry.register(
            "requests",
            "Verify and settle requests by outcome (valid, success, or the reason)",
            requests.clone(),
        );
        let latency = Family::<Endpoint, Histogram>::new_with_constructor(
            (|| Histogram::new(exponential_buckets(0.001, 2.0, 16))) as fn() -> Histogram,
        );
        registry.register("request_seconds", "Verify and settle latency", latency.clone());
        let pending = Gauge::default();
        registry.register("pending_settlements", "Settlements broadcast and not yet concluded", pending.clone());
        let gas_used = Family::<Key, Counter>::default();
        registry.register("gas_used", "Gas used by mined settlements", gas_used.clone());
        let gas_wei = Family::<Key, Counter<f64, AtomicU64>>::default();
        registry.register("gas_spent_wei", "Wei paid for the gas of mined settlements", gas_wei.clone());
        let repairs = Family::<Repair, Counter>::default();
        registry.register(
            "repairs",
            "Transactions rebroadcast, replaced with higher fees, or gaps filled",
            repairs.clone(),
        );
        let chain_up = Family::<ChainLabel, Gauge>::default();
        registry.register("chain_up", "Whether the chain's nodes answered the last check", chain_up.clone());
        Metrics { registry, requests, latency, pending, gas_used, gas_wei, repairs, chain_up }
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
