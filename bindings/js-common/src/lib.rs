//! The conversion rules the two JavaScript bindings share: how a core
//! [`Error`] becomes a JS `Error` (its `code`, message and structured
//! fields), how a JS number becomes a result count, how scored items are
//! shaped. No napi or wasm-bindgen here: each binding only wraps these
//! values into its runtime's objects, so Node and the browser cannot drift.

#![warn(missing_docs)]

use sightline::Error;

/// Everything a thrown JS `Error` carries: `error.code`, `error.message`
/// and one property per structured field of the core variant.
#[derive(Debug, Clone, PartialEq)]
pub struct JsErrorParts {
    /// The core's stable code ([`Error::code`]), e.g. `"UNKNOWN_ID"`.
    pub code: &'static str,
    /// The core's message.
    pub message: String,
    /// Structured fields as `(property name, value)`: `field` of a config
    /// error, `kind` (`"user"`/`"item"`) and `id` of an unknown id.
    pub fields: Vec<(&'static str, String)>,
}

impl JsErrorParts {
    /// An `INVALID_INPUT` error detected while converting a JS value.
    pub fn invalid_input(message: impl std::fmt::Display) -> Self {
        Error::InvalidInput(message.to_string()).into()
    }
}

impl From<Error> for JsErrorParts {
    fn from(err: Error) -> Self {
        let fields = match &err {
            Error::UnknownId { kind, id } => vec![("kind", kind.to_string()), ("id", id.clone())],
            Error::Config { field, .. } => vec![("field", field.clone())],
            _ => Vec::new(),
        };
        JsErrorParts {
            code: err.code(),
            message: err.to_string(),
            fields,
        }
    }
}

/// Validates a JS number used as a result count and converts it to `usize`.
///
/// JS numbers are doubles: NaN, ±∞, negatives and fractions are rejected
/// with `INVALID_INPUT` (they have no `usize` equivalent); `0` is passed on
/// so the core reports it. Values above `usize::MAX` saturate.
pub fn to_count(n: f64) -> Result<usize, JsErrorParts> {
    if n.is_finite() && n >= 0.0 && n.fract() == 0.0 {
        // `as` saturates above usize::MAX; n is a non-negative integer here.
        Ok(n as usize)
    } else {
        Err(JsErrorParts::invalid_input(format!(
            "n must be a positive integer, got {n}"
        )))
    }
}

/// The `INVALID_INPUT` error for a JS argument `what` that is not a string.
pub fn not_a_string(what: &str) -> JsErrorParts {
    JsErrorParts::invalid_input(format!("{what} must be a string"))
}

/// Property name of a scored item's id (`{ itemId, score }`).
pub const ITEM_ID: &str = "itemId";
/// Property name of a scored item's score.
pub const SCORE: &str = "score";

/// `(id, score)` pairs of the core as `(itemId, score)` with the score as a
/// JS number.
pub fn scored(pairs: Vec<(String, f32)>) -> impl Iterator<Item = (String, f64)> {
    pairs.into_iter().map(|(id, s)| (id, f64::from(s)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline::error::IdKind;

    #[test]
    fn errors_carry_code_message_and_fields() {
        let e = JsErrorParts::from(Error::UnknownId {
            kind: IdKind::Item,
            id: "sku-9".into(),
        });
        assert_eq!(e.code, "UNKNOWN_ID");
        assert_eq!(e.message, "unknown item id \"sku-9\"");
        assert_eq!(e.fields, [("kind", "item".into()), ("id", "sku-9".into())]);
        let e = JsErrorParts::from(Error::Config {
            field: "als.factors".into(),
            message: "must be > 0".into(),
        });
        assert_eq!(
            (e.code, e.fields),
            ("CONFIG", vec![("field", "als.factors".into())])
        );
        let e = JsErrorParts::from(Error::ModelFormat("short".into()));
        assert_eq!((e.code, e.fields.len()), ("MODEL_FORMAT", 0));
        // Every code of the core reaches JS unchanged.
        for code in Error::CODES {
            assert!(code.chars().all(|c| c.is_ascii_uppercase() || c == '_'));
        }
    }

    #[test]
    fn counts_must_be_non_negative_integers() {
        assert_eq!(to_count(0.0), Ok(0));
        assert_eq!(to_count(7.0), Ok(7));
        assert_eq!(to_count(1e300), Ok(usize::MAX));
        for bad in [-1.0, 2.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = to_count(bad).unwrap_err();
            assert_eq!(e.code, "INVALID_INPUT");
            assert!(
                e.message.contains("n must be a positive integer"),
                "{}",
                e.message
            );
        }
        assert_eq!(not_a_string("userId").code, "INVALID_INPUT");
    }

    #[test]
    fn scores_widen_exactly() {
        let got: Vec<_> = scored(vec![("a".into(), 0.1f32), ("b".into(), -2.0)]).collect();
        assert_eq!(got, [("a".into(), f64::from(0.1f32)), ("b".into(), -2.0)]);
    }
}
