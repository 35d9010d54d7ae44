//! Observation: the engine's stats as a typed report, the Prometheus text
//! and the counters the request and ingest paths bump.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Engine;
use crate::data::Event;
use crate::resilience::{BreakerState, BreakerStats};
use crate::tracking::GroupStats;

/// What [`Engine::stats`] reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EngineStats {
    /// CTR / CVR with confidence intervals per placement, variant and
    /// source.
    pub tracking: Vec<GroupStats>,
    /// Every metric of the registry (see [`Metrics::to_json`](crate::metrics::Metrics::to_json)).
    pub metrics: Value,
    /// Each source's circuit breaker by config name.
    pub breakers: BTreeMap<String, BreakerReport>,
    /// The served models' generation (see [`Engine::model_generation`]).
    pub model_generation: u64,
}

/// The state and counters of one circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerReport {
    /// Closed, open or half-open now.
    pub state: BreakerState,
    /// Outcomes recorded.
    pub calls: u64,
    /// Failures and timeouts.
    pub failures: u64,
    /// Slow outcomes.
    pub slow: u64,
    /// Calls refused while open.
    pub rejected: u64,
    /// Times it opened.
    pub opened: u64,
}

impl BreakerReport {
    fn new(state: BreakerState, s: BreakerStats) -> Self {
        BreakerReport {
            state,
            calls: s.calls,
            failures: s.failures,
            slow: s.slow,
            rejected: s.rejected,
            opened: s.opened_count,
        }
    }
}

/// The gauge value of a breaker state (0 closed, 1 half-open, 2 open).
fn state_gauge(state: BreakerState) -> f64 {
    match state {
        BreakerState::Closed => 0.0,
        BreakerState::HalfOpen => 1.0,
        BreakerState::Open => 2.0,
    }
}

pub(super) fn stats(engine: &Engine) -> EngineStats {
    let now = engine.clock.now_micros();
    let breakers = engine
        .breakers
        .read()
        .map(|b| {
            b.iter()
                .map(|(k, v)| (k.clone(), BreakerReport::new(v.state(now), v.stats())))
                .collect()
        })
        .unwrap_or_default();
    EngineStats {
        tracking: engine.tracker.stats(),
        metrics: engine.metrics.to_json(),
        breakers,
        model_generation: engine.model_generation(),
    }
}

pub(super) fn prometheus_text(engine: &Engine) -> String {
    let now = engine.clock.now_micros();
    let metrics = &engine.metrics;
    if let Ok(breakers) = engine.breakers.read() {
        for (name, b) in breakers.iter() {
            let labels = [("source", name.as_str())];
            if let Ok(g) = metrics.gauge("sightline_breaker_state", &labels) {
                g.set(state_gauge(b.state(now)));
            }
            if let Ok(g) = metrics.gauge("sightline_breaker_rejected", &labels) {
                g.set(b.stats().rejected as f64);
            }
        }
    }
    for g in engine.tracker.stats().iter().filter(|g| g.source.is_none()) {
        let labels = [
            ("placement", g.placement.as_str()),
            ("variant", g.variant.as_str()),
        ];
        for (name, rate) in [("sightline_ctr", &g.ctr), ("sightline_cvr", &g.cvr)] {
            if let (Some(r), Ok(gauge)) = (rate, metrics.gauge(name, &labels)) {
                gauge.set(r.value);
            }
        }
    }
    metrics.prometheus_text()
}

impl Engine {
    /// Counts one source call and its latency.
    pub(super) fn observe_source(
        &self,
        placement: &str,
        source: &str,
        status: &str,
        latency_us: u64,
    ) {
        let labels = [("placement", placement), ("source", source)];
        if let Ok(h) = self
            .metrics
            .histogram("sightline_source_latency_seconds", &labels)
        {
            h.observe(latency_us as f64 / 1e6);
        }
        let labels = [
            ("placement", placement),
            ("source", source),
            ("status", status),
        ];
        if let Ok(c) = self
            .metrics
            .counter("sightline_source_calls_total", &labels)
        {
            c.inc();
        }
    }

    /// Counts one request, whether it needed a fallback, and its latency.
    pub(super) fn observe_request(
        &self,
        placement: &str,
        variant: &str,
        fallback: bool,
        latency_us: u64,
    ) {
        let labels = [("placement", placement), ("variant", variant)];
        if let Ok(c) = self.metrics.counter("sightline_requests_total", &labels) {
            c.inc();
        }
        if fallback {
            if let Ok(c) = self.metrics.counter("sightline_fallbacks_total", &labels) {
                c.inc();
            }
        }
        if let Ok(h) = self.metrics.histogram(
            "sightline_request_latency_seconds",
            &[("placement", placement)],
        ) {
            h.observe(latency_us as f64 / 1e6);
        }
    }

    /// Counts one ingested event by kind.
    pub(super) fn count_event(&self, event: &Event) {
        if let Ok(c) = self
            .metrics
            .counter("sightline_events_total", &[("kind", event.kind.as_str())])
        {
            c.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_report_keeps_the_stats_json_shape() {
        let stats = BreakerStats {
            calls: 5,
            failures: 3,
            slow: 1,
            rejected: 2,
            opened_count: 1,
        };
        let json = serde_json::to_value(BreakerReport::new(BreakerState::HalfOpen, stats)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"state": "half_open", "calls": 5, "failures": 3,
                               "slow": 1, "rejected": 2, "opened": 1})
        );
        assert_eq!(state_gauge(BreakerState::Open), 2.0);
        assert_eq!(state_gauge(BreakerState::HalfOpen), 1.0);
        assert_eq!(state_gauge(BreakerState::Closed), 0.0);
    }
}
