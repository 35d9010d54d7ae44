//! Core calls on the libuv thread pool: the one task type behind every
//! `…Async` method (fit, tune, index builds, loading and saving files), so
//! each heavy call has an async twin without a second implementation.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use napi::bindgen_prelude::{AsyncTask, ToNapiValue, TypeName};
use napi::{Env, Status, Task, ValueType};
use serde::Serialize;
use serde_json::Value;
use sightline::{Component, Result};

use crate::convert::out;
use crate::or_throw;

/// A plain object a task resolves to (napi gives `serde_json::Value` no
/// `TypeName`, which a task's value needs).
pub struct Json(Value);

impl TypeName for Json {
    fn type_name() -> &'static str {
        "Object"
    }

    fn value_type() -> ValueType {
        ValueType::Object
    }
}

impl ToNapiValue for Json {
    unsafe fn to_napi_value(
        env: napi::sys::napi_env,
        value: Self,
    ) -> napi::Result<napi::sys::napi_value> {
        // SAFETY: forwarded as is; the caller upholds the contract.
        unsafe { Value::to_napi_value(env, value.0) }
    }
}

/// [`out`] for a task.
pub(crate) fn out_json<T: Serialize>(value: T) -> Result<Json> {
    out(value).map(Json)
}

/// A core call on the libuv thread pool (the promise of an `…Async`
/// method): the call runs off the JS thread, its result is converted on it.
pub struct CoreTask<J> {
    job: Option<Box<dyn FnOnce() -> Result<J> + Send>>,
}

impl<J: ToNapiValue + TypeName + Send + 'static> CoreTask<J> {
    /// The task of `call`, whose result `convert` turns into the JS value.
    pub(crate) fn spawn<T: 'static>(
        call: impl FnOnce() -> Result<T> + Send + 'static,
        convert: impl FnOnce(T) -> Result<J> + Send + 'static,
    ) -> AsyncTask<CoreTask<J>> {
        let job = move || call().and_then(convert);
        AsyncTask::new(CoreTask {
            job: Some(Box::new(job)),
        })
    }
}

impl<J: ToNapiValue + TypeName + Send + 'static> Task for CoreTask<J> {
    type Output = Result<J>;
    type JsValue = J;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        let job = self
            .job
            .take()
            .ok_or_else(|| napi::Error::new(Status::GenericFailure, "sightline: task ran twice"))?;
        // A panic must not cross into libuv; it rejects the promise instead.
        catch_unwind(AssertUnwindSafe(job)).map_err(|_| {
            napi::Error::new(
                Status::GenericFailure,
                "sightline: panic in a background task",
            )
        })
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> napi::Result<J> {
        // The JS error (with `code` and fields) is built here, on the JS
        // thread, and the promise rejects with that exact object.
        or_throw(&env, output)
    }
}

/// `Component::save` of a shared model on the pool (every model's
/// `saveAsync`).
pub(crate) fn save_async<C: Component + Send + Sync + 'static>(
    model: Arc<C>,
    path: String,
) -> AsyncTask<CoreTask<()>> {
    CoreTask::spawn(move || model.save(&path), Ok)
}

/// `Component::load` on the pool, wrapped into its JS class by `wrap`
/// (every model's `loadAsync`).
pub(crate) fn load_async<C: Component + Send + 'static, J>(
    path: String,
    wrap: fn(C) -> J,
) -> AsyncTask<CoreTask<J>>
where
    J: ToNapiValue + TypeName + Send + 'static,
{
    CoreTask::spawn(move || C::load(&path), move |c| Ok(wrap(c)))
}
