//! Resilience for candidate sources: circuit breakers, request deadlines
//! and a [`guarded`] runner that ties them together.
//!
//! A recommendation request fans out to several sources (ALS, co-occurrence,
//! content, trending, remote feature stores behind user callbacks). One slow
//! or failing source must not make the whole request slow or failing, so
//! each source gets a [`CircuitBreaker`] and a per-call time budget, and the
//! request as a whole has a [`Deadline`].
//!
//! Time is always passed in as microseconds from a [`Clock`], never read
//! from `std::time` directly: `Instant::now()` panics on
//! `wasm32-unknown-unknown`, and explicit time keeps tests deterministic
//! ([`ManualClock`]).
//!
//! # Breaker states
//!
//! ```text
//!            failure or slow rate ≥ threshold
//!            (over the last `window` calls, ≥ `min_calls` of them)
//!   Closed ─────────────────────────────────────────────▶ Open
//!     ▲                                                  │  ▲
//!     │ `half_open_calls` trials all                     │  │ any trial fails,
//!     │ succeed fast                    `open_ms` passed │  │ times out or is slow
//!     │                                                  ▼  │
//!     └─────────────────────────────────────────────── HalfOpen
//! ```
//!
//! * **Closed**: every call is permitted; outcomes go into a ring buffer of
//!   the last `window` calls. Once it holds at least `min_calls` outcomes and
//!   the failure share reaches `failure_rate` or the slow share reaches
//!   `slow_rate`, the breaker opens.
//! * **Open**: every call is rejected until `open_ms` have passed.
//! * **HalfOpen**: up to `half_open_calls` trial permits are handed out, the
//!   rest rejected. All trials succeeding fast closes the breaker (with an
//!   empty window); the first failed, timed-out or slow trial re-opens it.
//!   If trial permits are lost (taken but never recorded) for longer than
//!   `open_ms`, a fresh round of trials starts, so a dropped permit cannot
//!   wedge the breaker in half-open forever.
//!
//! Each transition starts a new *generation*; outcomes of permits issued in
//! an older generation still count in [`BreakerStats`] but no longer move
//! the state, so a straggler from before an opening cannot close or re-open
//! the breaker by accident.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Largest accepted [`BreakerConfig::window`] (bounds memory on bad config).
pub const MAX_WINDOW: usize = 100_000;
/// Largest accepted [`BreakerConfig::half_open_calls`].
pub const MAX_HALF_OPEN_CALLS: usize = 10_000;
/// Largest accepted duration in milliseconds (`slow_call_ms`, `open_ms`):
/// one day. Anything longer is a unit mistake.
pub const MAX_MS: f64 = 86_400_000.0;

/// A source of monotonic time in microseconds.
///
/// Only differences matter; the origin is arbitrary. Implementations must
/// never panic.
pub trait Clock: Send + Sync {
    /// Microseconds since the clock's origin.
    fn now_micros(&self) -> u64;
}

/// The real monotonic clock ([`std::time::Instant`]), counting from its
/// construction. Not available on `wasm32`, where `Instant::now()` panics;
/// there, use a [`ManualClock`] fed from `performance.now()` or similar.
#[cfg(not(target_arch = "wasm32"))]
#[derive(Debug, Clone, Copy)]
pub struct SystemClock {
    origin: std::time::Instant,
}

#[cfg(not(target_arch = "wasm32"))]
impl SystemClock {
    /// A clock whose origin is now.
    pub fn new() -> Self {
        SystemClock {
            origin: std::time::Instant::now(),
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(target_arch = "wasm32"))]
impl Clock for SystemClock {
    fn now_micros(&self) -> u64 {
        // Saturate rather than wrap: 584 000 years of uptime is not a concern,
        // but a silent wrap would be.
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to: for tests, replays, and hosts
/// (wasm) that supply their own time.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicU64,
}

impl ManualClock {
    /// A clock reading `start_us`.
    pub fn new(start_us: u64) -> Self {
        ManualClock {
            now: AtomicU64::new(start_us),
        }
    }

    /// Sets the time. Going backwards is allowed (the breaker tolerates it).
    pub fn set(&self, now_us: u64) {
        self.now.store(now_us, Ordering::SeqCst);
    }

    /// Moves the time forward by `delta_us`, saturating at `u64::MAX`.
    pub fn advance(&self, delta_us: u64) {
        // fetch_update with a closure that always returns Some cannot fail.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |t| {
                Some(t.saturating_add(delta_us))
            });
    }
}

impl Clock for ManualClock {
    fn now_micros(&self) -> u64 {
        self.now.load(Ordering::SeqCst)
    }
}

/// Settings of a [`CircuitBreaker`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakerConfig {
    /// How many of the most recent calls are considered (default 20).
    pub window: usize,
    /// Fewest calls in the window before the breaker may open (default 10),
    /// so two unlucky first calls do not trip it. Must be `<= window`.
    pub min_calls: usize,
    /// Open when at least this share of the window failed or timed out
    /// (default 0.5). In `(0, 1]`.
    pub failure_rate: f64,
    /// A successful call slower than this many milliseconds counts as slow
    /// (default 50).
    pub slow_call_ms: f64,
    /// Open when at least this share of the window was slow (default 0.8).
    /// In `(0, 1]`.
    pub slow_rate: f64,
    /// Stay open this many milliseconds, then go half-open (default 5000).
    pub open_ms: f64,
    /// Trial calls permitted while half-open (default 3); all of them must
    /// succeed fast to close the breaker.
    pub half_open_calls: usize,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            window: 20,
            min_calls: 10,
            failure_rate: 0.5,
            slow_call_ms: 50.0,
            slow_rate: 0.8,
            open_ms: 5000.0,
            half_open_calls: 3,
        }
    }
}

impl BreakerConfig {
    /// Checks every field; [`Error::Config`] names the offending one.
    pub fn validate(&self) -> Result<()> {
        if self.window == 0 || self.window > MAX_WINDOW {
            return Err(Error::config(
                "window",
                format!("must be in 1..={MAX_WINDOW}, got {}", self.window),
            ));
        }
        if self.min_calls == 0 || self.min_calls > self.window {
            return Err(Error::config(
                "min_calls",
                format!(
                    "must be in 1..={} (<= window), got {}",
                    self.window, self.min_calls
                ),
            ));
        }
        for (field, v) in [
            ("failure_rate", self.failure_rate),
            ("slow_rate", self.slow_rate),
        ] {
            if !(v > 0.0 && v <= 1.0) {
                return Err(Error::config(field, format!("must be in (0, 1], got {v}")));
            }
        }
        for (field, v) in [
            ("slow_call_ms", self.slow_call_ms),
            ("open_ms", self.open_ms),
        ] {
            if !(v > 0.0 && v <= MAX_MS) {
                return Err(Error::config(
                    field,
                    format!("must be in (0, {MAX_MS}], got {v}"),
                ));
            }
        }
        if self.half_open_calls == 0 || self.half_open_calls > MAX_HALF_OPEN_CALLS {
            return Err(Error::config(
                "half_open_calls",
                format!(
                    "must be in 1..={MAX_HALF_OPEN_CALLS}, got {}",
                    self.half_open_calls
                ),
            ));
        }
        Ok(())
    }
}

/// The observable state of a [`CircuitBreaker`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls flow normally.
    Closed,
    /// Calls are rejected.
    Open,
    /// A few trial calls are let through to probe recovery.
    HalfOpen,
}

impl BreakerState {
    /// Stable lower-case name (`closed`, `open`, `half_open`) for logs and
    /// metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

/// How a permitted call went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The call succeeded after `latency_us` microseconds (slow if above
    /// [`BreakerConfig::slow_call_ms`]).
    Success {
        /// Wall time of the call in microseconds.
        latency_us: u64,
    },
    /// The call returned an error or panicked.
    Failure,
    /// The call overran its budget; its result was discarded. Counts as a
    /// failure *and* as slow.
    Timeout,
}

/// Permission to make one call, from [`CircuitBreaker::try_acquire`]. Hand
/// it back with [`CircuitBreaker::record`]. Not `Clone`, so one permit
/// records one outcome.
#[derive(Debug, PartialEq, Eq)]
#[must_use = "record the call's outcome with CircuitBreaker::record"]
pub struct Permit {
    generation: u64,
}

/// Cumulative counters of a [`CircuitBreaker`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BreakerStats {
    /// Outcomes recorded.
    pub calls: u64,
    /// Outcomes that were failures or timeouts.
    pub failures: u64,
    /// Outcomes that were slow (slow successes and timeouts).
    pub slow: u64,
    /// Calls refused by [`CircuitBreaker::try_acquire`].
    pub rejected: u64,
    /// Times the breaker went to [`BreakerState::Open`].
    pub opened_count: u64,
}

const FAIL: u8 = 1;
const SLOW: u8 = 2;

#[derive(Debug, Clone, Copy)]
enum St {
    Closed,
    Open {
        until_us: u64,
    },
    HalfOpen {
        since_us: u64,
        issued: usize,
        succeeded: usize,
    },
}

#[derive(Debug)]
struct Inner {
    st: St,
    generation: u64,
    /// Outcome flags (FAIL | SLOW) of the last calls while closed.
    ring: Vec<u8>,
    head: usize,
    len: usize,
    fails: usize,
    slows: usize,
    stats: BreakerStats,
}

impl Inner {
    fn clear_window(&mut self) {
        self.head = 0;
        self.len = 0;
        self.fails = 0;
        self.slows = 0;
    }

    fn open(&mut self, now_us: u64, open_us: u64) {
        self.st = St::Open {
            until_us: now_us.saturating_add(open_us),
        };
        self.generation = self.generation.wrapping_add(1);
        self.stats.opened_count += 1;
        self.clear_window();
    }

    /// Open → HalfOpen once the open period is over. Done lazily on every
    /// access, so no timer thread is needed.
    fn tick(&mut self, now_us: u64) {
        if let St::Open { until_us } = self.st {
            if now_us >= until_us {
                self.st = St::HalfOpen {
                    since_us: now_us,
                    issued: 0,
                    succeeded: 0,
                };
                self.generation = self.generation.wrapping_add(1);
            }
        }
    }
}

/// A thread-safe circuit breaker for one candidate source; see the
/// [module docs](self) for its states. All methods take `&self`; share it
/// with an `Arc`.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    slow_us: u64,
    open_us: u64,
    inner: Mutex<Inner>,
}

impl CircuitBreaker {
    /// A closed breaker; fails with [`Error::Config`] on an invalid config.
    pub fn new(config: BreakerConfig) -> Result<Self> {
        config.validate()?;
        // Validated ranges make these casts exact enough and overflow-free.
        let slow_us = (config.slow_call_ms * 1000.0).round() as u64;
        let open_us = (config.open_ms * 1000.0).round() as u64;
        let inner = Inner {
            st: St::Closed,
            generation: 0,
            ring: vec![0; config.window],
            head: 0,
            len: 0,
            fails: 0,
            slows: 0,
            stats: BreakerStats::default(),
        };
        Ok(CircuitBreaker {
            config,
            slow_us,
            open_us,
            inner: Mutex::new(inner),
        })
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing panics while the lock is held, but if it ever did, the
        // counters are still consistent enough to keep serving.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Asks to make a call at time `now_us`. `None` (counted as rejected)
    /// when open, or half-open with every trial slot taken.
    pub fn try_acquire(&self, now_us: u64) -> Option<Permit> {
        let mut g = self.lock();
        g.tick(now_us);
        match g.st {
            St::Closed => Some(Permit {
                generation: g.generation,
            }),
            St::Open { .. } => {
                g.stats.rejected += 1;
                None
            }
            St::HalfOpen {
                since_us,
                issued,
                succeeded,
            } => {
                if issued < self.config.half_open_calls {
                    g.st = St::HalfOpen {
                        since_us,
                        issued: issued + 1,
                        succeeded,
                    };
                    Some(Permit {
                        generation: g.generation,
                    })
                } else if now_us.saturating_sub(since_us) >= self.open_us {
                    // Trial permits were taken but never recorded: start a
                    // fresh round rather than stay half-open forever.
                    g.generation = g.generation.wrapping_add(1);
                    g.st = St::HalfOpen {
                        since_us: now_us,
                        issued: 1,
                        succeeded: 0,
                    };
                    Some(Permit {
                        generation: g.generation,
                    })
                } else {
                    g.stats.rejected += 1;
                    None
                }
            }
        }
    }

    /// Reports the outcome of the call `permit` allowed, at time `now_us`.
    /// May open or close the breaker (see the [module docs](self)).
    pub fn record(&self, permit: Permit, now_us: u64, outcome: Outcome) {
        let flags = match outcome {
            Outcome::Success { latency_us } if latency_us > self.slow_us => SLOW,
            Outcome::Success { .. } => 0,
            Outcome::Failure => FAIL,
            Outcome::Timeout => FAIL | SLOW,
        };
        let mut g = self.lock();
        g.stats.calls += 1;
        g.stats.failures += u64::from(flags & FAIL != 0);
        g.stats.slow += u64::from(flags & SLOW != 0);
        g.tick(now_us);
        if permit.generation != g.generation {
            // A straggler from an earlier state: counted, but it says
            // nothing about the source's health *now*.
            return;
        }
        match g.st {
            St::Closed => {
                let w = self.config.window;
                if g.len == w {
                    let old = g.ring[g.head];
                    g.fails -= usize::from(old & FAIL != 0);
                    g.slows -= usize::from(old & SLOW != 0);
                } else {
                    g.len += 1;
                }
                let head = g.head;
                g.ring[head] = flags;
                g.head = if head + 1 == w { 0 } else { head + 1 };
                g.fails += usize::from(flags & FAIL != 0);
                g.slows += usize::from(flags & SLOW != 0);
                if g.len >= self.config.min_calls {
                    let n = g.len as f64;
                    if g.fails as f64 / n >= self.config.failure_rate
                        || g.slows as f64 / n >= self.config.slow_rate
                    {
                        g.open(now_us, self.open_us);
                    }
                }
            }
            // Unreachable with a matching generation (opening bumps it), but
            // harmless: the call is already counted.
            St::Open { .. } => {}
            St::HalfOpen {
                since_us,
                issued,
                succeeded,
            } => {
                if flags != 0 {
                    g.open(now_us, self.open_us);
                } else if succeeded + 1 >= self.config.half_open_calls {
                    g.st = St::Closed;
                    g.generation = g.generation.wrapping_add(1);
                    g.clear_window();
                } else {
                    g.st = St::HalfOpen {
                        since_us,
                        issued,
                        succeeded: succeeded + 1,
                    };
                }
            }
        }
    }

    /// The state at time `now_us` (an expired open period reads as
    /// half-open).
    pub fn state(&self, now_us: u64) -> BreakerState {
        let mut g = self.lock();
        g.tick(now_us);
        match g.st {
            St::Closed => BreakerState::Closed,
            St::Open { .. } => BreakerState::Open,
            St::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// A snapshot of the cumulative counters.
    pub fn stats(&self) -> BreakerStats {
        self.lock().stats
    }
}

/// The time budget of a whole request: `budget_us` microseconds from
/// `start_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// When the request started ([`Clock::now_micros`]).
    pub start_us: u64,
    /// How long it may take in total.
    pub budget_us: u64,
}

impl Deadline {
    /// A deadline `budget_us` after `start_us`.
    pub fn new(start_us: u64, budget_us: u64) -> Self {
        Deadline {
            start_us,
            budget_us,
        }
    }

    /// Microseconds left at `now_us` (0 once expired; the full budget if the
    /// clock reads earlier than `start_us`).
    pub fn remaining_us(&self, now_us: u64) -> u64 {
        let end = self.start_us.saturating_add(self.budget_us);
        end.saturating_sub(now_us.max(self.start_us))
    }

    /// Whether no time is left at `now_us`.
    pub fn expired(&self, now_us: u64) -> bool {
        self.remaining_us(now_us) == 0
    }
}

/// Why [`guarded`] did not run a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The source's breaker refused the call.
    BreakerOpen,
    /// The request deadline leaves less than the minimum useful time.
    NoTimeLeft,
}

/// The result of [`guarded`].
#[derive(Debug)]
pub enum Guarded<T> {
    /// The source answered in time: its value and latency in microseconds.
    Ok(T, u64),
    /// The source was not called.
    Skipped(Reason),
    /// The source returned an error or panicked.
    Failed(Error),
    /// The source answered too late (latency in microseconds); its result
    /// was discarded.
    TimedOut(u64),
}

impl<T> Guarded<T> {
    /// The value, if the source answered in time.
    pub fn ok(self) -> Option<T> {
        match self {
            Guarded::Ok(v, _) => Some(v),
            _ => None,
        }
    }
}

/// Runs one source call `f` under its breaker, a per-call budget of
/// `budget_us` and the request `deadline`.
///
/// Synchronous code cannot be pre-empted, so the budget is enforced around
/// the call, not during it:
///
/// 1. **Skip** with [`Reason::NoTimeLeft`] if the request has less than
///    half the per-call budget left (`remaining < budget_us / 2`) or none
///    at all: a call with less than half its budget is likely to overrun,
///    and its work would be wasted. Checked first so a skipped call does
///    not use up a half-open trial slot.
/// 2. **Skip** with [`Reason::BreakerOpen`] if the breaker refuses.
/// 3. Run `f`, catching panics (user callbacks may panic; a panic must
///    never cross into callers or FFI): a panic or `Err` is
///    [`Guarded::Failed`] and the breaker records a failure.
/// 4. The call's effective budget is `min(budget_us, remaining)`. If `f`
///    took longer, the result is discarded as [`Guarded::TimedOut`]. The
///    breaker records a timeout only if `f` overran its *own* budget; a
///    call within its budget that merely missed the request deadline was
///    healthy and is recorded as a success.
///
/// On `wasm32` with `panic = "abort"` panics cannot be caught; that target
/// aborts as it always does.
pub fn guarded<T>(
    breaker: &CircuitBreaker,
    clock: &dyn Clock,
    budget_us: u64,
    deadline: &Deadline,
    f: impl FnOnce() -> Result<T>,
) -> Guarded<T> {
    let start = clock.now_micros();
    let remaining = deadline.remaining_us(start);
    if remaining == 0 || remaining < budget_us / 2 {
        return Guarded::Skipped(Reason::NoTimeLeft);
    }
    let Some(permit) = breaker.try_acquire(start) else {
        return Guarded::Skipped(Reason::BreakerOpen);
    };
    let result = catch_unwind(AssertUnwindSafe(f));
    let end = clock.now_micros();
    let latency_us = end.saturating_sub(start);
    match result {
        Ok(Ok(v)) => {
            if latency_us > budget_us {
                breaker.record(permit, end, Outcome::Timeout);
                Guarded::TimedOut(latency_us)
            } else {
                breaker.record(permit, end, Outcome::Success { latency_us });
                if latency_us > remaining {
                    Guarded::TimedOut(latency_us)
                } else {
                    Guarded::Ok(v, latency_us)
                }
            }
        }
        Ok(Err(e)) => {
            breaker.record(permit, end, Outcome::Failure);
            Guarded::Failed(e)
        }
        Err(payload) => {
            breaker.record(permit, end, Outcome::Failure);
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            Guarded::Failed(Error::invalid(format!("source panicked: {msg}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn cfg() -> BreakerConfig {
        BreakerConfig {
            window: 10,
            min_calls: 4,
            failure_rate: 0.5,
            slow_call_ms: 10.0,
            slow_rate: 0.75,
            open_ms: 100.0,
            half_open_calls: 2,
        }
    }

    fn call(b: &CircuitBreaker, now: u64, o: Outcome) -> bool {
        match b.try_acquire(now) {
            Some(p) => {
                b.record(p, now, o);
                true
            }
            None => false,
        }
    }

    const OK: Outcome = Outcome::Success { latency_us: 1_000 };
    const SLOW_OK: Outcome = Outcome::Success { latency_us: 20_000 };

    #[test]
    fn validate_names_fields() {
        assert!(BreakerConfig::default().validate().is_ok());
        let cases: Vec<(BreakerConfig, &str)> = vec![
            (BreakerConfig { window: 0, ..cfg() }, "window"),
            (
                BreakerConfig {
                    window: MAX_WINDOW + 1,
                    ..cfg()
                },
                "window",
            ),
            (
                BreakerConfig {
                    min_calls: 0,
                    ..cfg()
                },
                "min_calls",
            ),
            (
                BreakerConfig {
                    min_calls: 11,
                    ..cfg()
                },
                "min_calls",
            ),
            (
                BreakerConfig {
                    failure_rate: 0.0,
                    ..cfg()
                },
                "failure_rate",
            ),
            (
                BreakerConfig {
                    failure_rate: f64::NAN,
                    ..cfg()
                },
                "failure_rate",
            ),
            (
                BreakerConfig {
                    slow_rate: 1.5,
                    ..cfg()
                },
                "slow_rate",
            ),
            (
                BreakerConfig {
                    slow_call_ms: -1.0,
                    ..cfg()
                },
                "slow_call_ms",
            ),
            (
                BreakerConfig {
                    open_ms: f64::INFINITY,
                    ..cfg()
                },
                "open_ms",
            ),
            (
                BreakerConfig {
                    half_open_calls: 0,
                    ..cfg()
                },
                "half_open_calls",
            ),
        ];
        for (c, field) in cases {
            match CircuitBreaker::new(c) {
                Err(Error::Config { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        let c: BreakerConfig = serde_json::from_str(r#"{"window": 7}"#).unwrap();
        assert_eq!(c.window, 7);
        assert_eq!(c.min_calls, 10);
    }

    #[test]
    fn opens_on_failures_respecting_min_calls() {
        let b = CircuitBreaker::new(cfg()).unwrap();
        // 3 failures < min_calls 4: stays closed despite a 100% failure rate.
        for t in 0..3 {
            assert!(call(&b, t, Outcome::Failure));
        }
        assert_eq!(b.state(3), BreakerState::Closed);
        assert!(call(&b, 3, Outcome::Failure));
        assert_eq!(b.state(4), BreakerState::Open);
        assert!(b.try_acquire(5).is_none());
        let s = b.stats();
        assert_eq!(
            (s.calls, s.failures, s.rejected, s.opened_count),
            (4, 4, 1, 1)
        );
    }

    #[test]
    fn failure_rate_threshold() {
        let b = CircuitBreaker::new(cfg()).unwrap();
        // 1 failure in 4..6 calls stays under 50%.
        for o in [OK, Outcome::Failure, OK, OK, OK, OK] {
            assert!(call(&b, 0, o));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
        // Timeouts count as failures: 3 of 8 ≈ 37% → closed, 4 of 9 → closed,
        // 5 of 10 = 50% → open.
        for _ in 0..2 {
            assert!(call(&b, 0, Outcome::Timeout));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
        assert!(call(&b, 0, Outcome::Failure));
        assert_eq!(b.state(0), BreakerState::Closed);
        assert!(call(&b, 0, Outcome::Failure));
        assert_eq!(b.state(0), BreakerState::Open);
    }

    #[test]
    fn opens_on_slow_calls() {
        let b = CircuitBreaker::new(cfg()).unwrap();
        for o in [SLOW_OK, SLOW_OK, OK] {
            assert!(call(&b, 0, o));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
        assert!(call(&b, 0, SLOW_OK)); // 3 of 4 = 75% slow
        assert_eq!(b.state(0), BreakerState::Open);
        let s = b.stats();
        assert_eq!((s.slow, s.failures), (3, 0));
        // Exactly at the threshold is not slow.
        let b = CircuitBreaker::new(cfg()).unwrap();
        for _ in 0..10 {
            assert!(call(&b, 0, Outcome::Success { latency_us: 10_000 }));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
    }

    #[test]
    fn window_slides() {
        let b = CircuitBreaker::new(cfg()).unwrap();
        // 4 failures in 10 calls, never 50% of a prefix ≥ min_calls.
        let f = Outcome::Failure;
        for o in [OK, OK, OK, OK, f, OK, f, OK, f, f] {
            assert!(call(&b, 0, o));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
        // Many successes push the failures out of the window entirely...
        for _ in 0..10 {
            assert!(call(&b, 0, OK));
        }
        // ...so 4 new failures make 40% again, not 8 of 20.
        for _ in 0..4 {
            assert!(call(&b, 0, Outcome::Failure));
        }
        assert_eq!(b.state(0), BreakerState::Closed);
        assert!(call(&b, 0, Outcome::Failure)); // 5 of 10
        assert_eq!(b.state(0), BreakerState::Open);
    }

    fn opened() -> CircuitBreaker {
        let b = CircuitBreaker::new(cfg()).unwrap();
        for _ in 0..4 {
            assert!(call(&b, 1_000, Outcome::Failure));
        }
        assert_eq!(b.state(1_000), BreakerState::Open);
        b
    }

    #[test]
    fn open_to_half_open_after_open_ms() {
        let b = opened();
        assert_eq!(b.state(100_999), BreakerState::Open);
        assert!(b.try_acquire(100_999).is_none());
        assert_eq!(b.state(101_000), BreakerState::HalfOpen);
        // Clock going backwards does not reopen or panic.
        assert_eq!(b.state(0), BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_to_closed() {
        let b = opened();
        let t = 101_000;
        let p1 = b.try_acquire(t).unwrap();
        let p2 = b.try_acquire(t).unwrap();
        assert!(b.try_acquire(t).is_none(), "only 2 trial slots");
        b.record(p1, t, OK);
        assert_eq!(b.state(t), BreakerState::HalfOpen);
        b.record(p2, t, OK);
        assert_eq!(b.state(t), BreakerState::Closed);
        // Fresh window: needs min_calls again before reopening.
        for _ in 0..3 {
            assert!(call(&b, t, Outcome::Failure));
        }
        assert_eq!(b.state(t), BreakerState::Closed);
    }

    #[test]
    fn half_open_to_open_on_failure_or_slow() {
        for bad in [Outcome::Failure, Outcome::Timeout, SLOW_OK] {
            let b = opened();
            let t = 101_000;
            let p1 = b.try_acquire(t).unwrap();
            b.record(p1, t, bad);
            assert_eq!(b.state(t), BreakerState::Open, "{bad:?}");
            assert_eq!(b.stats().opened_count, 2);
            assert_eq!(b.state(t + 99_999), BreakerState::Open);
            assert_eq!(b.state(t + 100_000), BreakerState::HalfOpen);
        }
    }

    #[test]
    fn stale_permits_do_not_move_state() {
        let b = CircuitBreaker::new(cfg()).unwrap();
        let stale = b.try_acquire(0).unwrap();
        for _ in 0..4 {
            assert!(call(&b, 0, Outcome::Failure));
        }
        let t = 100_000;
        assert_eq!(b.state(t), BreakerState::HalfOpen);
        b.record(stale, t, Outcome::Failure);
        assert_eq!(b.state(t), BreakerState::HalfOpen);
        assert_eq!(b.stats().calls, 5);
    }

    #[test]
    fn lost_trial_permits_do_not_wedge_half_open() {
        let b = opened();
        let t = 101_000;
        drop(b.try_acquire(t).unwrap());
        drop(b.try_acquire(t).unwrap());
        assert!(b.try_acquire(t + 50_000).is_none());
        let p = b.try_acquire(t + 100_000).expect("fresh trial round");
        b.record(p, t + 100_000, OK);
        let p = b.try_acquire(t + 100_000).unwrap();
        b.record(p, t + 100_000, OK);
        assert_eq!(b.state(t + 100_000), BreakerState::Closed);
    }

    #[test]
    fn concurrent_use_from_four_threads() {
        let b = Arc::new(
            CircuitBreaker::new(BreakerConfig {
                window: 50,
                min_calls: 50,
                failure_rate: 0.9,
                ..cfg()
            })
            .unwrap(),
        );
        let per = 10_000u64;
        let hs: Vec<_> = (0..4)
            .map(|k| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    let mut acquired = 0u64;
                    for i in 0..per {
                        let now = i * 10;
                        if let Some(p) = b.try_acquire(now) {
                            acquired += 1;
                            let o = if (i + k) % 3 == 0 {
                                Outcome::Failure
                            } else {
                                OK
                            };
                            b.record(p, now, o);
                        }
                    }
                    acquired
                })
            })
            .collect();
        let acquired: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();
        let s = b.stats();
        assert_eq!(s.calls, acquired);
        assert_eq!(s.calls + s.rejected, 4 * per);
        assert_eq!(s.opened_count, 0, "a third failing never reaches 90%");
    }

    #[test]
    fn deadline_arithmetic() {
        let d = Deadline::new(1_000, 500);
        assert_eq!(d.remaining_us(1_000), 500);
        assert_eq!(d.remaining_us(1_200), 300);
        assert_eq!(d.remaining_us(0), 500);
        assert!(!d.expired(1_499));
        assert!(d.expired(1_500));
        assert!(d.expired(u64::MAX));
        let d = Deadline::new(u64::MAX - 1, u64::MAX);
        assert_eq!(d.remaining_us(u64::MAX), 0);
    }

    #[test]
    fn guarded_paths() {
        let clock = ManualClock::new(0);
        let b = CircuitBreaker::new(BreakerConfig {
            min_calls: 10,
            ..cfg()
        })
        .unwrap();
        let d = Deadline::new(0, 100_000);
        // Fast success.
        match guarded(&b, &clock, 20_000, &d, || {
            clock.advance(5_000);
            Ok(7)
        }) {
            Guarded::Ok(7, 5_000) => {}
            other => panic!("{other:?}"),
        }
        // Over budget: result discarded, breaker told Timeout.
        match guarded(&b, &clock, 20_000, &d, || {
            clock.advance(25_000);
            Ok(7)
        }) {
            Guarded::TimedOut(25_000) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(b.stats().failures, 1);
        // Error → Failed.
        let r = guarded::<()>(&b, &clock, 20_000, &d, || Err(Error::invalid("boom")));
        assert!(matches!(r, Guarded::Failed(Error::InvalidInput(_))));
        // Panic → Failed, does not propagate.
        let r = guarded::<()>(&b, &clock, 20_000, &d, || panic!("callback bug"));
        match r {
            Guarded::Failed(e) => assert!(e.to_string().contains("callback bug")),
            other => panic!("{other:?}"),
        }
        assert_eq!(b.stats().failures, 3);
        // 30 ms used, 70 ms left: a 200 ms budget needs ≥ 100 ms → skipped.
        assert!(matches!(
            guarded(&b, &clock, 200_000, &d, || Ok(())),
            Guarded::Skipped(Reason::NoTimeLeft)
        ));
        // 70 ms left ≥ 120/2: runs, within its own budget but past the
        // deadline → TimedOut for the caller, Success for the breaker.
        let calls = b.stats().calls;
        match guarded(&b, &clock, 120_000, &d, || {
            clock.advance(80_000);
            Ok(())
        }) {
            Guarded::TimedOut(80_000) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(b.stats().calls, calls + 1);
        assert_eq!(b.stats().failures, 3);
        // Deadline expired.
        assert!(matches!(
            guarded(&b, &clock, 0, &d, || Ok(())),
            Guarded::Skipped(Reason::NoTimeLeft)
        ));
    }

    #[test]
    fn guarded_skips_when_open() {
        let clock = ManualClock::new(0);
        let b = CircuitBreaker::new(cfg()).unwrap();
        let d = Deadline::new(0, 1_000_000);
        for _ in 0..4 {
            let _ = guarded::<()>(&b, &clock, 10_000, &d, || Err(Error::invalid("x")));
        }
        let mut ran = false;
        let r = guarded(&b, &clock, 10_000, &d, || {
            ran = true;
            Ok(())
        });
        assert!(matches!(r, Guarded::Skipped(Reason::BreakerOpen)));
        assert!(!ran);
        // After open_ms, a trial runs.
        clock.advance(100_000);
        assert!(matches!(
            guarded(&b, &clock, 10_000, &d, || Ok(1)),
            Guarded::Ok(1, 0)
        ));
    }

    /// Overhead of acquire + record; run with
    /// `cargo test --release --lib resilience::tests::bench -- --ignored --nocapture`.
    #[test]
    #[ignore]
    #[cfg(not(target_arch = "wasm32"))]
    fn bench_breaker_overhead() {
        let b = CircuitBreaker::new(BreakerConfig::default()).unwrap();
        let n = 5_000_000u64;
        let t0 = std::time::Instant::now();
        for i in 0..n {
            if let Some(p) = b.try_acquire(std::hint::black_box(i)) {
                b.record(p, i, Outcome::Success { latency_us: 100 });
            }
        }
        let ns = t0.elapsed().as_nanos() as f64 / n as f64;
        println!("breaker acquire+record: {ns:.1} ns");
        let clock = SystemClock::new();
        let d = Deadline::new(clock.now_micros(), u64::MAX / 4);
        let t0 = std::time::Instant::now();
        for _ in 0..n {
            let _ = std::hint::black_box(guarded(&b, &clock, 1_000_000, &d, || Ok(1u32)));
        }
        let ns = t0.elapsed().as_nanos() as f64 / n as f64;
        println!("guarded() with SystemClock: {ns:.1} ns");
    }
}
