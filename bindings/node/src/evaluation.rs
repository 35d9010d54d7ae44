//! Offline evaluation: train/test splits, ranking metrics at K and the ALS
//! hyper-parameter search, the twins of the Python binding's `split`,
//! `ranking_metrics` and `tune`. Conversion only; the heavy calls have
//! async twins on the libuv pool.

// napi registers free functions only outside `cargo test`, so a test build
// sees them unused.
#![cfg_attr(test, allow(dead_code))]

use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, Object, Unknown};
use napi::Env;
use napi_derive::napi;
use serde_json::Value;
use sightline::als::AlsModel;
use sightline::data::Interactions as CoreInteractions;
use sightline::eval::{
    leave_k_out, leave_last_k_out, ranking_metrics_at_k, train_test_split, RankingMetrics,
};
use sightline::tune::{tune_als, Metric, ParamSpace, Search};
use sightline::{Error, Result};

use crate::convert::{json, out, settings, snake_fields};
use crate::interactions::Interactions;
use crate::task::{out_json, CoreTask, Json};
use crate::{or_throw, Model};

/// A split of one matrix: same shape and ids, disjoint entries.
#[napi(object, object_from_js = false)]
pub struct Split {
    /// The entries to fit on.
    pub train: Interactions,
    /// The held-out entries.
    pub test: Interactions,
}

fn split(parts: (CoreInteractions, CoreInteractions)) -> Split {
    Split {
        train: Interactions::wrap(parts.0),
        test: Interactions::wrap(parts.1),
    }
}

/// A non-negative integer option (`K`, `seed`, `trials`); NaN, fractions
/// and negatives are `INVALID_INPUT` naming it.
fn whole(value: Option<f64>, name: &str, default: u64) -> Result<u64> {
    match value {
        None => Ok(default),
        Some(v) if v.is_finite() && v >= 0.0 && v.fract() == 0.0 => Ok(v as u64),
        Some(v) => Err(Error::InvalidInput(format!(
            "{name} must be a non-negative integer, got {v}"
        ))),
    }
}

/// A number field of an options object.
fn number(options: Option<&Object<'_>>, name: &str) -> Result<Option<f64>> {
    options.map_or(Ok(None), |o| {
        o.get::<f64>(name)
            .map_err(|e| Error::InvalidInput(format!("options.{name}: {}", e.reason)))
    })
}

/// A string field of an options object.
fn text(options: Option<&Object<'_>>, name: &str) -> Result<Option<String>> {
    options.map_or(Ok(None), |o| {
        o.get::<String>(name)
            .map_err(|e| Error::InvalidInput(format!("options.{name}: {}", e.reason)))
    })
}

/// The cut-off `K` of an options object (default 10).
fn k_of(options: Option<&Object<'_>>) -> Result<usize> {
    Ok(whole(number(options, "K")?, "K", 10)? as usize)
}

/// implicit's `train_test_split`: about `1 - trainPercentage` (default
/// 0.8) of the entries, drawn with `seed` (default 0), go to test. The
/// same seed splits identically in every runtime.
#[napi(
    js_name = "trainTestSplit",
    catch_unwind,
    ts_args_type = "data: Interactions, options?: { trainPercentage?: number; seed?: number }"
)]
pub fn train_test_split_of(
    env: Env,
    data: &Interactions,
    options: Option<Object<'_>>,
) -> napi::Result<Split> {
    let o = options.as_ref();
    let done = (|| {
        // Python's rule: test_fraction = 1 - train_percentage.
        let fraction = 1.0 - number(o, "trainPercentage")?.unwrap_or(0.8);
        let seed = whole(number(o, "seed")?, "seed", 0)?;
        train_test_split(&data.inner, fraction, seed)
    })();
    or_throw(&env, done.map(split))
}

/// implicit's `leave_k_out_split`: every user with more than `K` (default
/// 1) entries gets `K` random ones (by `seed`) moved to test.
#[napi(
    catch_unwind,
    ts_args_type = "data: Interactions, options?: { K?: number; seed?: number }"
)]
pub fn leave_k_out_split(
    env: Env,
    data: &Interactions,
    options: Option<Object<'_>>,
) -> napi::Result<Split> {
    let o = options.as_ref();
    let done = (|| {
        let k = whole(number(o, "K")?, "K", 1)? as usize;
        leave_k_out(&data.inner, k, whole(number(o, "seed")?, "seed", 0)?)
    })();
    or_throw(&env, done.map(split))
}

/// Every user's `K` (default 1) most recent entries go to test; needs an
/// `Interactions` built from events with timestamps (`INVALID_INPUT`
/// otherwise).
#[napi(
    catch_unwind,
    ts_args_type = "data: Interactions, options?: { K?: number }"
)]
pub fn leave_last_k_out_split(
    env: Env,
    data: &Interactions,
    options: Option<Object<'_>>,
) -> napi::Result<Split> {
    let o = options.as_ref();
    let done = number(o, "K")
        .and_then(|k| whole(k, "K", 1))
        .and_then(|k| leave_last_k_out(&data.inner, k as usize));
    or_throw(&env, done.map(split))
}

/// The model and matrices of a metrics call, shared with the pool.
type MetricsArgs = (
    Arc<AlsModel>,
    Arc<CoreInteractions>,
    Arc<CoreInteractions>,
    usize,
);

fn metrics_args(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    options: Option<&Object<'_>>,
) -> Result<MetricsArgs> {
    Ok((
        Arc::clone(&model.inner),
        Arc::clone(&train.inner),
        Arc::clone(&test.inner),
        k_of(options)?,
    ))
}

fn metrics((model, train, test, k): MetricsArgs) -> Result<RankingMetrics> {
    ranking_metrics_at_k(&*model, &train, &test, k)
}

/// Ranking metrics at `K` (default 10) of a model on `test`, leaving each
/// user's `train` items out of their ranking: `{ k, precision, recall,
/// ndcg, map, hitRate, coverage, users }` as the core computes them.
/// Blocks the event loop; see `rankingMetricsAtKAsync`.
#[napi(
    js_name = "rankingMetricsAtK",
    catch_unwind,
    ts_args_type = "model: Model, train: Interactions, test: Interactions, options?: { K?: number }",
    ts_return_type = "RankingMetrics"
)]
pub fn ranking_metrics_at_k_of(
    env: Env,
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    options: Option<Object<'_>>,
) -> napi::Result<Value> {
    let done = metrics_args(model, train, test, options.as_ref())
        .and_then(metrics)
        .and_then(out);
    or_throw(&env, done)
}

/// `rankingMetricsAtK` on the libuv thread pool.
#[napi(
    ts_args_type = "model: Model, train: Interactions, test: Interactions, options?: { K?: number }",
    ts_return_type = "Promise<RankingMetrics>"
)]
pub fn ranking_metrics_at_k_async(
    model: &Model,
    train: &Interactions,
    test: &Interactions,
    options: Option<Object<'_>>,
) -> AsyncTask<CoreTask<Json>> {
    let args = metrics_args(model, train, test, options.as_ref());
    CoreTask::spawn(move || metrics(args?), out_json)
}

/// Everything a tuning run needs, owned for the pool.
struct Tuning {
    base: sightline::als::AlsConfig,
    space: ParamSpace,
    search: Search,
    metric: Metric,
    k: usize,
}

impl Tuning {
    fn of(options: Option<&Object<'_>>) -> Result<Tuning> {
        let field = |name: &str| -> Result<Option<Unknown<'_>>> {
            options.map_or(Ok(None), |o| {
                o.get::<Unknown>(name)
                    .map(|v| v.filter(|v| !matches!(v.get_type(), Ok(napi::ValueType::Undefined))))
                    .map_err(|e| Error::InvalidInput(format!("options.{name}: {}", e.reason)))
            })
        };
        let base: sightline::als::AlsConfig = settings(field("base")?.as_ref(), "base")?;
        let grid = field("space")?
            .map(|g| json(&g, "space").map(snake_fields))
            .transpose()?;
        let space = ParamSpace::from_grid(grid, &base)?;
        let trials = number(options, "trials")?
            .map(|t| whole(Some(t), "trials", 0).map(|t| t as usize))
            .transpose()?;
        let seed = whole(number(options, "seed")?, "seed", 0)?;
        let search = Search::from_name(
            text(options, "search")?.as_deref().unwrap_or("grid"),
            trials,
            seed,
        )?;
        let metric = text(options, "metric")?
            .as_deref()
            .unwrap_or("ndcg")
            .parse()?;
        Ok(Tuning {
            base,
            space,
            search,
            metric,
            k: k_of(options)?,
        })
    }
}

/// Searches ALS hyper-parameters on the libuv thread pool: each candidate
/// of `options.space` (`{ factors: [16, 32], regularization: [0.1, 1] }`,
/// default the core's space) over `options.base` is fitted on `train` and
/// scored by `options.metric` (`ndcg`, `precision`, `recall`, `map`,
/// `hit_rate`; default `ndcg`) at `K` (10) on `validation`. `search` is
/// `grid` (default) or `random` (`trials`, `seed`). Resolves to `{ best,
/// bestMetrics, trials: [{ config, metrics, seconds }] }`; bad options
/// reject with `CONFIG` naming the field.
#[napi(
    ts_args_type = "train: Interactions, validation: Interactions, options?: TuneOptions",
    ts_return_type = "Promise<TuneResult>"
)]
pub fn tune_als_async(
    train: &Interactions,
    validation: &Interactions,
    options: Option<Object<'_>>,
) -> AsyncTask<CoreTask<Json>> {
    let tuning = Tuning::of(options.as_ref());
    let (train, validation) = (Arc::clone(&train.inner), Arc::clone(&validation.inner));
    CoreTask::spawn(
        move || {
            let t = tuning?;
            let mut keep_going = |_: &sightline::tune::Trial| true;
            tune_als(
                &train,
                &validation,
                &t.base,
                &t.space,
                &t.search,
                t.metric,
                t.k,
                &mut keep_going,
            )
        },
        out_json,
    )
}
