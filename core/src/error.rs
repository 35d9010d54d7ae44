//! The one error type of sightline. Every binding maps its variants one-to-one
//! onto its own error model (Python exception classes, JS `Error.code`).

use std::fmt;

/// Which id space an unknown id belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// A customer or anonymous user id.
    User,
    /// A product id.
    Item,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::User => "user",
            IdKind::Item => "item",
        })
    }
}

/// Everything that can go wrong in sightline. Bad input never panics; it
/// returns one of these and leaves every object unchanged.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An argument or data value is invalid (empty data, NaN/inf/negative
    /// weights, `n = 0`, `factors = 0`, out-of-range index, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Arrays whose lengths or dimensions do not fit together.
    #[error("shape mismatch: {0}")]
    ShapeMismatch(String),
    /// An id that is not known to the model or data set.
    #[error("unknown {kind} id {id:?}")]
    UnknownId {
        /// The id space that was searched.
        kind: IdKind,
        /// The id that was not found.
        id: String,
    },
    /// A configuration value is invalid; `field` names it (dotted path).
    #[error("invalid config field `{field}`: {message}")]
    Config {
        /// Name of the offending field, dotted for nested ones (e.g. `factors`,
        /// `solver.steps`, `weights.view`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// A model file or buffer is truncated, corrupt, foreign or of an
    /// unsupported version.
    #[error("model format: {0}")]
    ModelFormat(String),
    /// An operating-system I/O error (file not found, permission, …).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A long computation was stopped by its progress callback (e.g. Ctrl-C).
    #[error("interrupted by caller")]
    Interrupted,
}

impl Error {
    /// The error of the `index`-th event of a batch: an invalid-input
    /// message gains the event's position, other variants are unchanged.
    pub fn at_event(self, index: usize) -> Self {
        match self {
            Error::InvalidInput(m) => Error::InvalidInput(format!("event {index}: {m}")),
            other => other,
        }
    }

    /// Every [`code`](Error::code), one per variant. The enum is
    /// `#[non_exhaustive]`, so a binding's match over it needs a catch-all
    /// arm; the bindings' tests compare their error classes against this
    /// list, so a new variant cannot silently fall into that arm.
    pub const CODES: &'static [&'static str] = &[
        "INVALID_INPUT",
        "SHAPE_MISMATCH",
        "UNKNOWN_ID",
        "CONFIG",
        "MODEL_FORMAT",
        "IO",
        "INTERRUPTED",
    ];

    /// A stable, machine-readable code for the variant; bindings expose it
    /// (JS `error.code`, Python `exc.code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidInput(_) => "INVALID_INPUT",
            Error::ShapeMismatch(_) => "SHAPE_MISMATCH",
            Error::UnknownId { .. } => "UNKNOWN_ID",
            Error::Config { .. } => "CONFIG",
            Error::ModelFormat(_) => "MODEL_FORMAT",
            Error::Io(_) => "IO",
            Error::Interrupted => "INTERRUPTED",
        }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidInput(msg.into())
    }

    pub(crate) fn shape(msg: impl Into<String>) -> Self {
        Error::ShapeMismatch(msg.into())
    }

    pub(crate) fn format(msg: impl Into<String>) -> Self {
        Error::ModelFormat(msg.into())
    }

    pub(crate) fn config(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct() {
        let all = [
            Error::invalid("x"),
            Error::shape("x"),
            Error::UnknownId {
                kind: IdKind::User,
                id: "u".into(),
            },
            Error::config("a.b", "bad"),
            Error::format("x"),
            Error::Io(std::io::Error::other("x")),
            Error::Interrupted,
        ];
        // A new variant must be added to `all` (this match has no wildcard)
        // and so to `Error::CODES`.
        for e in &all {
            match e {
                Error::InvalidInput(_)
                | Error::ShapeMismatch(_)
                | Error::UnknownId { .. }
                | Error::Config { .. }
                | Error::ModelFormat(_)
                | Error::Io(_)
                | Error::Interrupted => {}
            }
        }
        let codes: Vec<_> = all.iter().map(Error::code).collect();
        assert_eq!(codes, Error::CODES);
        let mut distinct = codes.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(
            Error::config("als.factors", "must be > 0").to_string(),
            "invalid config field `als.factors`: must be > 0"
        );
    }
}
