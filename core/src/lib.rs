//! # sightline
//!
//! An embeddable product-recommendation library: implicit-feedback ALS,
//! offline evaluation and one portable, checksummed model file that loads
//! identically from Rust, Python, Node.js and WebAssembly. A deterministic
//! optical-retail demo data set comes with the `demo` feature.
//!
//! ```
//! use sightline::{als::{AlsConfig, AlsModel, RecommendOptions}, data::InteractionsBuilder};
//!
//! let mut b = InteractionsBuilder::new();
//! for (u, i) in [("ann", "frame-1"), ("ann", "case-1"), ("bob", "frame-1"), ("bob", "lens-1"), ("cy", "case-1")] {
//!     b.add(u, i, 1.0)?;
//! }
//! let data = b.build()?;
//! let model = AlsModel::fit(&AlsConfig { factors: 4, iterations: 5, ..Default::default() }, &data)?;
//! let recs = model.recommend_by_id("cy", 2, &RecommendOptions::default())?;
//! assert_eq!(recs.len(), 2); // "case-1" is left out: cy already has it
//! # Ok::<(), sightline::Error>(())
//! ```
#![warn(missing_docs)]

pub mod als;
pub mod candidate;
pub mod config;
pub mod content;
pub mod cooccur;
pub mod data;
#[cfg(feature = "demo")]
pub mod demo;
pub mod engine;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod ids;
pub mod linalg;
pub mod metrics;
pub mod pages;
pub mod parallel;
pub mod privacy;
pub mod rank;
pub mod rerank;
pub mod resilience;
pub mod rng;
pub mod session;
pub mod slice;
pub mod store;
pub mod tracking;
pub mod trending;
pub mod tune;

pub use error::{Error, IdKind, Result};
pub use store::Component;
