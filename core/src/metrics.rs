//! A small in-process metrics registry: labelled counters, gauges and
//! latency histograms, exported as Prometheus text (format 0.0.4) or JSON.
//!
//! Registration ([`Metrics::counter`], [`Metrics::gauge`],
//! [`Metrics::histogram`]) takes a lock and validates names; it returns an
//! `Arc` handle that hot paths keep, so recording ([`Counter::inc`],
//! [`Gauge::set`], [`Histogram::observe`]) is a few lock-free atomic
//! operations and never allocates.
//!
//! A series is identified by its metric name plus its labels sorted by label
//! name, so `[("a","1"),("b","2")]` and `[("b","2"),("a","1")]` are the same
//! series. Export order is deterministic: metric names ascending, then
//! series by their sorted labels.
//!
//! ```
//! use sightline::metrics::Metrics;
//!
//! let m = Metrics::new();
//! let calls = m.counter("sightline_source_calls", &[("source", "als")])?;
//! calls.inc();
//! let lat = m.histogram("sightline_source_latency_seconds", &[("source", "als")])?;
//! lat.observe(0.0042);
//! assert!(m.prometheus_text().contains("sightline_source_calls{source=\"als\"} 1\n"));
//! # Ok::<(), sightline::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// Upper bounds (seconds) of the histogram buckets: 10 µs to 10 s, four per
/// decade (1, 1.8, 3.2, 5.6 × 10ᵏ — rounded log spacing, so `le` labels stay
/// readable). A `+Inf` bucket follows implicitly.
pub const LATENCY_BUCKETS: [f64; 25] = [
    0.00001, 0.000018, 0.000032, 0.000056, //
    0.0001, 0.00018, 0.00032, 0.00056, //
    0.001, 0.0018, 0.0032, 0.0056, //
    0.01, 0.018, 0.032, 0.056, //
    0.1, 0.18, 0.32, 0.56, //
    1.0, 1.8, 3.2, 5.6, //
    10.0,
];

const NB: usize = LATENCY_BUCKETS.len() + 1;

/// A monotonically increasing integer count.
#[derive(Debug, Default)]
pub struct Counter {
    v: AtomicU64,
}

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.v.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` (wraps at `u64::MAX` rather than panic).
    #[inline]
    pub fn add(&self, n: u64) {
        self.v.fetch_add(n, Ordering::Relaxed);
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.v.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (queue length, model age, breaker state).
#[derive(Debug, Default)]
pub struct Gauge {
    /// `f64` bits; 0 is `0.0`.
    bits: AtomicU64,
}

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.bits.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (may be negative).
    #[inline]
    pub fn add(&self, d: f64) {
        atomic_add_f64(&self.bits, d);
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

/// Lock-free `f64 +=` on bit-cast atomics.
#[inline]
fn atomic_add_f64(a: &AtomicU64, d: f64) {
    // The closure always returns Some, so fetch_update cannot fail.
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
        Some((f64::from_bits(b) + d).to_bits())
    });
}

/// A latency distribution over [`LATENCY_BUCKETS`] (seconds), with sum and
/// count.
#[derive(Debug)]
pub struct Histogram {
    /// Non-cumulative counts per bucket; the last is `+Inf`. Cumulated only
    /// on export, so an observation touches one bucket.
    buckets: [AtomicU64; NB],
    sum_bits: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_bits: AtomicU64::new(0),
        }
    }
}

/// A consistent-enough copy of a histogram's state.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Cumulative counts: `cumulative[i]` observations were `<=
    /// LATENCY_BUCKETS[i]`; the last entry (`+Inf`) equals `count`.
    pub cumulative: Vec<u64>,
    /// Sum of all observed values.
    pub sum: f64,
    /// Number of observations.
    pub count: u64,
}

impl Histogram {
    /// Records one value in seconds. Bucket `i` holds values `<=
    /// LATENCY_BUCKETS[i]` (Prometheus `le`). NaN is ignored, since it
    /// would poison the sum for good.
    #[inline]
    pub fn observe(&self, seconds: f64) {
        if seconds.is_nan() {
            return;
        }
        let i = LATENCY_BUCKETS.partition_point(|&b| b < seconds);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        atomic_add_f64(&self.sum_bits, seconds);
    }

    /// Records a duration given in microseconds (what [`crate::resilience`]
    /// reports).
    #[inline]
    pub fn observe_micros(&self, us: u64) {
        self.observe(us as f64 * 1e-6);
    }

    /// Reads the counters. `count` is derived from the buckets, so the
    /// `+Inf` bucket and `_count` always agree even under concurrent writes.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut acc = 0u64;
        let cumulative: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| {
                acc = acc.wrapping_add(b.load(Ordering::Relaxed));
                acc
            })
            .collect();
        HistogramSnapshot {
            count: acc,
            cumulative,
            sum: f64::from_bits(self.sum_bits.load(Ordering::Relaxed)),
        }
    }

    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.snapshot().count
    }

    /// Estimates the `q`-quantile (`0 <= q <= 1`) in seconds; `None` without
    /// observations or for `q` out of range.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        self.snapshot().quantile(q)
    }
}

impl HistogramSnapshot {
    /// Estimates the `q`-quantile like Prometheus' `histogram_quantile`:
    /// find the bucket holding rank `q·count` and interpolate linearly
    /// between its bounds (the first bucket's lower bound is 0). Values in
    /// the `+Inf` bucket are reported as the largest finite bound. The error
    /// is at most one bucket's width.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        let rank = q * self.count as f64;
        // First bucket whose cumulative count reaches the rank; for q = 0,
        // the first non-empty bucket.
        let i = self
            .cumulative
            .iter()
            .position(|&c| c as f64 >= rank && c > 0)?;
        let Some(&upper) = LATENCY_BUCKETS.get(i) else {
            return LATENCY_BUCKETS.last().copied();
        };
        let lower = if i == 0 { 0.0 } else { LATENCY_BUCKETS[i - 1] };
        let below = if i == 0 { 0 } else { self.cumulative[i - 1] };
        let in_bucket = self.cumulative[i].saturating_sub(below) as f64;
        let frac = if in_bucket > 0.0 {
            ((rank - below as f64) / in_bucket).clamp(0.0, 1.0)
        } else {
            1.0
        };
        Some(lower + (upper - lower) * frac)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

#[derive(Debug, Clone)]
enum Series {
    Counter(Arc<Counter>),
    Gauge(Arc<Gauge>),
    Histogram(Arc<Histogram>),
}

type Labels = Vec<(String, String)>;

#[derive(Debug)]
struct Family {
    kind: Kind,
    series: BTreeMap<Labels, Series>,
}

#[derive(Debug, Default)]
struct Registry {
    families: BTreeMap<String, Family>,
    help: BTreeMap<String, String>,
}

/// The registry. `Send + Sync`; share it with an `Arc`.
#[derive(Debug, Default)]
pub struct Metrics {
    reg: RwLock<Registry>,
}

/// Prometheus metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
fn valid_metric_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`, `__` prefix reserved.
fn valid_label_name(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && cs.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

const HIST_SUFFIXES: [&str; 3] = ["_bucket", "_sum", "_count"];

impl Metrics {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the `# HELP` text of metric `name` (before or after it is
    /// created). Without one, no `# HELP` line is written.
    pub fn describe(&self, name: &str, help: &str) -> Result<()> {
        if !valid_metric_name(name) {
            return Err(Error::invalid(format!("invalid metric name {name:?}")));
        }
        let mut reg = self.reg.write().unwrap_or_else(PoisonError::into_inner);
        reg.help.insert(name.to_string(), help.to_string());
        Ok(())
    }

    /// The counter `name{labels}`, created at zero on first use.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> Result<Arc<Counter>> {
        match self.series(name, labels, Kind::Counter)? {
            Series::Counter(c) => Ok(c),
            _ => Err(Error::invalid("internal: metric kind mismatch")),
        }
    }

    /// The gauge `name{labels}`, created at zero on first use.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Result<Arc<Gauge>> {
        match self.series(name, labels, Kind::Gauge)? {
            Series::Gauge(g) => Ok(g),
            _ => Err(Error::invalid("internal: metric kind mismatch")),
        }
    }

    /// The histogram `name{labels}` over [`LATENCY_BUCKETS`], created empty
    /// on first use. `le` is reserved as a label name here.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Result<Arc<Histogram>> {
        match self.series(name, labels, Kind::Histogram)? {
            Series::Histogram(h) => Ok(h),
            _ => Err(Error::invalid("internal: metric kind mismatch")),
        }
    }

    /// Get-or-create: a read lock for the common "already exists" case, the
    /// write lock only to insert.
    fn series(&self, name: &str, labels: &[(&str, &str)], kind: Kind) -> Result<Series> {
        if !valid_metric_name(name) {
            return Err(Error::invalid(format!("invalid metric name {name:?}")));
        }
        let mut key: Labels = Vec::with_capacity(labels.len());
        for &(k, v) in labels {
            if !valid_label_name(k) {
                return Err(Error::invalid(format!(
                    "invalid label name {k:?} on metric {name:?}"
                )));
            }
            if kind == Kind::Histogram && k == "le" {
                return Err(Error::invalid(format!(
                    "label name \"le\" is reserved on histogram {name:?}"
                )));
            }
            key.push((k.to_string(), v.to_string()));
        }
        key.sort();
        if key.windows(2).any(|w| w[0].0 == w[1].0) {
            return Err(Error::invalid(format!(
                "duplicate label name on metric {name:?}"
            )));
        }
        {
            let reg = self.reg.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(fam) = reg.families.get(name) {
                if fam.kind != kind {
                    return Err(kind_clash(name, fam.kind, kind));
                }
                if let Some(s) = fam.series.get(&key) {
                    return Ok(s.clone());
                }
            }
        }
        let mut reg = self.reg.write().unwrap_or_else(PoisonError::into_inner);
        if !reg.families.contains_key(name) {
            // Histograms export `<name>_bucket/_sum/_count`; forbid other
            // metrics whose names would collide with those lines.
            let clash = if kind == Kind::Histogram {
                HIST_SUFFIXES
                    .iter()
                    .find(|suf| reg.families.contains_key(&format!("{name}{suf}")))
                    .map(|suf| format!("{name}{suf}"))
            } else {
                HIST_SUFFIXES.iter().find_map(|suf| {
                    let base = name.strip_suffix(suf)?;
                    let fam = reg.families.get(base)?;
                    (fam.kind == Kind::Histogram).then(|| base.to_string())
                })
            };
            if let Some(other) = clash {
                return Err(Error::invalid(format!(
                    "metric name {name:?} collides with the exported lines of {other:?}"
                )));
            }
        }
        let fam = reg.families.entry(name.to_string()).or_insert(Family {
            kind,
            series: BTreeMap::new(),
        });
        if fam.kind != kind {
            // Another thread registered the name with another kind between
            // our read and write locks.
            return Err(kind_clash(name, fam.kind, kind));
        }
        let s = fam.series.entry(key).or_insert_with(|| match kind {
            Kind::Counter => Series::Counter(Arc::default()),
            Kind::Gauge => Series::Gauge(Arc::default()),
            Kind::Histogram => Series::Histogram(Arc::default()),
        });
        Ok(s.clone())
    }

    /// Everything in the Prometheus text exposition format 0.0.4.
    pub fn prometheus_text(&self) -> String {
        let reg = self.reg.read().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        for (name, fam) in &reg.families {
            if let Some(help) = reg.help.get(name) {
                let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
            }
            let _ = writeln!(out, "# TYPE {name} {}", fam.kind.as_str());
            for (labels, s) in &fam.series {
                match s {
                    Series::Counter(c) => {
                        let _ = writeln!(out, "{name}{} {}", label_set(labels, None), c.get());
                    }
                    Series::Gauge(g) => {
                        let _ = writeln!(
                            out,
                            "{name}{} {}",
                            label_set(labels, None),
                            fmt_f64(g.get())
                        );
                    }
                    Series::Histogram(h) => {
                        let snap = h.snapshot();
                        for (i, c) in snap.cumulative.iter().enumerate() {
                            let le = LATENCY_BUCKETS
                                .get(i)
                                .map_or_else(|| "+Inf".to_string(), |&b| fmt_f64(b));
                            let _ =
                                writeln!(out, "{name}_bucket{} {c}", label_set(labels, Some(&le)));
                        }
                        let ls = label_set(labels, None);
                        let _ = writeln!(out, "{name}_sum{ls} {}", fmt_f64(snap.sum));
                        let _ = writeln!(out, "{name}_count{ls} {}", snap.count);
                    }
                }
            }
        }
        out
    }

    /// Everything as JSON: `{name: {"type", "help"?, "series": [{"labels":
    /// {..}, "value"} | {"labels", "count", "sum", "buckets": [[le,
    /// cumulative], ..], "p50", "p90", "p99"}]}}`. Non-finite numbers become
    /// `null`; `le` of the last bucket is the string `"+Inf"`.
    pub fn to_json(&self) -> Value {
        let reg = self.reg.read().unwrap_or_else(PoisonError::into_inner);
        let mut root = serde_json::Map::new();
        for (name, fam) in &reg.families {
            let series: Vec<Value> = fam
                .series
                .iter()
                .map(|(labels, s)| {
                    let ls: serde_json::Map<String, Value> = labels
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect();
                    match s {
                        Series::Counter(c) => json!({"labels": ls, "value": c.get()}),
                        Series::Gauge(g) => json!({"labels": ls, "value": g.get()}),
                        Series::Histogram(h) => {
                            let snap = h.snapshot();
                            let buckets: Vec<Value> = snap
                                .cumulative
                                .iter()
                                .enumerate()
                                .map(|(i, c)| match LATENCY_BUCKETS.get(i) {
                                    Some(b) => json!([b, c]),
                                    None => json!(["+Inf", c]),
                                })
                                .collect();
                            json!({
                                "labels": ls,
                                "count": snap.count,
                                "sum": snap.sum,
                                "buckets": buckets,
                                "p50": snap.quantile(0.5),
                                "p90": snap.quantile(0.9),
                                "p99": snap.quantile(0.99),
                            })
                        }
                    }
                })
                .collect();
            let mut fam_v = serde_json::Map::new();
            fam_v.insert("type".into(), Value::from(fam.kind.as_str()));
            if let Some(help) = reg.help.get(name) {
                fam_v.insert("help".into(), Value::from(help.as_str()));
            }
            fam_v.insert("series".into(), Value::Array(series));
            root.insert(name.clone(), Value::Object(fam_v));
        }
        Value::Object(root)
    }
}

fn kind_clash(name: &str, have: Kind, want: Kind) -> Error {
    Error::invalid(format!(
        "metric {name:?} is a {}, not a {}",
        have.as_str(),
        want.as_str()
    ))
}

/// Prometheus float text: Go-style `+Inf`/`-Inf`/`NaN`, else Rust's
/// shortest round-trip decimal (never exponent notation).
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        v.to_string()
    }
}

/// `{a="x",b="y"}` (plus `le` last), or nothing when there are no labels.
fn label_set(labels: &[(String, String)], le: Option<&str>) -> String {
    if labels.is_empty() && le.is_none() {
        return String::new();
    }
    let mut s = String::from("{");
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
        s.push_str("=\"");
        escape_into(&mut s, v, true);
        s.push('"');
    }
    if let Some(le) = le {
        if !labels.is_empty() {
            s.push(',');
        }
        s.push_str("le=\"");
        s.push_str(le);
        s.push('"');
    }
    s.push('}');
    s
}

/// Label values escape `\`, `"` and newline; HELP text only `\` and newline.
fn escape_into(out: &mut String, v: &str, quote: bool) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

fn escape_help(h: &str) -> String {
    let mut s = String::with_capacity(h.len());
    escape_into(&mut s, h, false);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_golden() {
        let m = Metrics::new();
        m.describe("req_total", "Requests served.\nBy source \\ kind.")
            .unwrap();
        m.counter("req_total", &[("source", "als"), ("kind", "rec")])
            .unwrap()
            .add(3);
        m.counter("req_total", &[("kind", "rec"), ("source", "als")])
            .unwrap()
            .inc(); // same series, labels in another order
        m.counter("req_total", &[]).unwrap().inc();
        m.gauge("breaker_state", &[("source", "co")])
            .unwrap()
            .set(2.0);
        m.gauge("age_seconds", &[]).unwrap().set(f64::INFINITY);
        let h = m.histogram("lat_seconds", &[("source", "als")]).unwrap();
        h.observe(0.00001); // le is inclusive: first bucket
        h.observe(0.0005);
        h.observe(100.0);
        let text = m.prometheus_text();
        let mut expected = String::from(
            "# TYPE age_seconds gauge\n\
             age_seconds +Inf\n\
             # TYPE breaker_state gauge\n\
             breaker_state{source=\"co\"} 2\n\
             # TYPE lat_seconds histogram\n",
        );
        let cum = |i: usize| match i {
            0..=6 => 1,
            7..=24 => 2,
            _ => 3,
        };
        for (i, b) in LATENCY_BUCKETS.iter().enumerate() {
            expected += &format!(
                "lat_seconds_bucket{{source=\"als\",le=\"{b}\"}} {}\n",
                cum(i)
            );
        }
        expected += "lat_seconds_bucket{source=\"als\",le=\"+Inf\"} 3\n\
                     lat_seconds_sum{source=\"als\"} 100.00051\n\
                     lat_seconds_count{source=\"als\"} 3\n\
                     # HELP req_total Requests served.\\nBy source \\\\ kind.\n\
                     # TYPE req_total counter\n\
                     req_total 1\n\
                     req_total{kind=\"rec\",source=\"als\"} 4\n";
        assert_eq!(text, expected);
        assert!(text.contains("le=\"0.00001\"} 1\n"));
        assert!(text.contains("le=\"0.00056\"} 2\n"));
        assert!(text.contains("le=\"10\"} 2\n"));
    }

    #[test]
    fn buckets_are_cumulative_and_monotone() {
        let h = Histogram::default();
        for i in 0..1000 {
            h.observe(i as f64 * 1e-4); // 0 .. 0.0999 s
        }
        let s = h.snapshot();
        assert_eq!(s.count, 1000);
        assert!(s.cumulative.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(*s.cumulative.last().unwrap(), 1000);
        // <= 0.001 s: i in 0..=10 (index 10 is 0.001 up to rounding).
        let i_1ms = LATENCY_BUCKETS.iter().position(|&b| b == 0.001).unwrap();
        assert!((10..=11).contains(&s.cumulative[i_1ms]));
        let i_100ms = LATENCY_BUCKETS.iter().position(|&b| b == 0.1).unwrap();
        assert_eq!(s.cumulative[i_100ms], 1000);
        assert!((s.sum - 49.95).abs() < 1e-9);
        // NaN ignored, negatives land in the first bucket.
        h.observe(f64::NAN);
        h.observe(-1.0);
        assert_eq!(h.count(), 1001);
        assert_eq!(h.snapshot().cumulative[0], 2);
    }

    #[test]
    fn escaping() {
        let m = Metrics::new();
        m.counter("c", &[("path", "a\\b\"c\nd")]).unwrap().inc();
        assert!(m
            .prometheus_text()
            .contains("c{path=\"a\\\\b\\\"c\\nd\"} 1\n"));
        // JSON keeps the raw value.
        assert_eq!(
            m.to_json()["c"]["series"][0]["labels"]["path"],
            "a\\b\"c\nd"
        );
    }

    #[test]
    fn quantiles_within_bucket_resolution() {
        let h = Histogram::default();
        let vals: Vec<f64> = (1..=1000).map(|i| i as f64 * 1e-4).collect(); // 0.1 ms .. 100 ms
        for &v in &vals {
            h.observe(v);
        }
        for q in [0.01, 0.5, 0.9, 0.99, 1.0] {
            let truth = vals[((q * 1000.0) as usize).clamp(1, 1000) - 1];
            let est = h.quantile(q).unwrap();
            // Same bucket as the true value: bounded by its neighbours.
            let i = LATENCY_BUCKETS.partition_point(|&b| b < truth);
            let lo = if i == 0 { 0.0 } else { LATENCY_BUCKETS[i - 1] };
            let hi = LATENCY_BUCKETS[i];
            assert!(
                est >= lo && est <= hi,
                "q={q}: {est} not in [{lo}, {hi}] (truth {truth})"
            );
        }
        // Uniform data: interpolation is close to exact.
        assert!((h.quantile(0.5).unwrap() - 0.05).abs() < 0.002);
        assert_eq!(h.quantile(1.5), None);
        assert_eq!(h.quantile(f64::NAN), None);
        assert_eq!(Histogram::default().quantile(0.5), None);
        // Everything above the last bound: reported as the last bound.
        let h = Histogram::default();
        h.observe(50.0);
        assert_eq!(h.quantile(0.5), Some(10.0));
        // q = 0 gives the lower region of the first non-empty bucket.
        let h = Histogram::default();
        h.observe(0.002);
        let q0 = h.quantile(0.0).unwrap();
        assert!((0.0018..=0.0032).contains(&q0));
    }

    #[test]
    fn invalid_names_are_errors() {
        let m = Metrics::new();
        for bad in ["", "1abc", "a-b", "a b", "é"] {
            assert!(
                matches!(m.counter(bad, &[]), Err(Error::InvalidInput(_))),
                "{bad:?}"
            );
        }
        assert!(m.counter("ns:sub_total", &[]).is_ok());
        for bad in ["", "a:b", "__x", "0a", "a-b"] {
            assert!(m.counter("ok", &[(bad, "v")]).is_err(), "{bad:?}");
        }
        assert!(m.counter("ok", &[("a", "1"), ("a", "2")]).is_err());
        assert!(m.histogram("h", &[("le", "1")]).is_err());
        assert!(m.counter("ok2", &[("le", "1")]).is_ok());
        // One kind per name.
        m.counter("ok", &[]).unwrap();
        assert!(m.gauge("ok", &[]).is_err());
        // Histogram line names are taken.
        m.histogram("lat", &[]).unwrap();
        assert!(m.counter("lat_count", &[]).is_err());
        m.gauge("x_sum", &[]).unwrap();
        assert!(m.histogram("x", &[]).is_err());
        assert!(m.describe("bad name", "x").is_err());
        // Any label value is fine.
        assert!(m.counter("ok", &[("v", "")]).is_ok());
    }

    #[test]
    fn concurrent_increments_sum_exactly() {
        let m = Arc::new(Metrics::new());
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let m = Arc::clone(&m);
                std::thread::spawn(move || {
                    // Half the threads look the series up each time, half keep the Arc.
                    let c = m.counter("hits", &[("k", "v")]).unwrap();
                    let h = m.histogram("lat", &[]).unwrap();
                    let g = m.gauge("g", &[]).unwrap();
                    for i in 0..25_000u32 {
                        if t % 2 == 0 {
                            c.inc();
                        } else {
                            m.counter("hits", &[("k", "v")]).unwrap().inc();
                        }
                        h.observe(f64::from(i % 100) * 1e-3);
                        g.add(1.0);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(m.counter("hits", &[("k", "v")]).unwrap().get(), 100_000);
        let h = m.histogram("lat", &[]).unwrap();
        assert_eq!(h.count(), 100_000);
        // Sum of 4·250·(0+…+99)·1e-3 = 4950; floating adds in any order.
        assert!((h.snapshot().sum - 4950.0).abs() < 1e-6);
        assert_eq!(m.gauge("g", &[]).unwrap().get(), 100_000.0);
    }

    #[test]
    fn json_export() {
        let m = Metrics::new();
        m.describe("c", "help").unwrap();
        m.counter("c", &[("a", "1")]).unwrap().add(5);
        m.histogram("h", &[]).unwrap().observe(0.003);
        let j = m.to_json();
        assert_eq!(j["c"]["type"], "counter");
        assert_eq!(j["c"]["help"], "help");
        assert_eq!(j["c"]["series"][0]["value"], 5);
        assert_eq!(j["h"]["series"][0]["count"], 1);
        assert_eq!(j["h"]["series"][0]["buckets"][25][0], "+Inf");
        assert!(j["h"]["series"][0]["p50"].as_f64().unwrap() > 0.0018);
    }

    /// `cargo test --release --lib metrics::tests::bench -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn bench_observe() {
        let m = Metrics::new();
        let h = m.histogram("lat", &[("source", "als")]).unwrap();
        let c = m.counter("calls", &[("source", "als")]).unwrap();
        let n = 10_000_000u32;
        let t0 = std::time::Instant::now();
        for i in 0..n {
            h.observe(std::hint::black_box(f64::from(i % 1000) * 1e-5));
        }
        println!(
            "histogram observe: {:.1} ns",
            t0.elapsed().as_nanos() as f64 / f64::from(n)
        );
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            std::hint::black_box(&c).inc();
        }
        println!(
            "counter inc: {:.1} ns",
            t0.elapsed().as_nanos() as f64 / f64::from(n)
        );
        let t0 = std::time::Instant::now();
        for _ in 0..1_000_000 {
            let _ = std::hint::black_box(m.counter("calls", &[("source", "als")]));
        }
        println!(
            "counter lookup (get-or-create, existing): {:.1} ns",
            t0.elapsed().as_nanos() as f64 / 1e6
        );
    }
}
