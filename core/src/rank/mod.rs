//! The business-rules layer: what may be recommended, and how the final
//! list is shaped.
//!
//! # Order of application
//!
//! For every request the engine applies, in this order:
//!
//! 1. **Sources** (ALS, content, co-occurrence, trending, session) are
//!    queried with `candidate::Query::filter` set to
//!    [`CompiledRules::predicate`], so every source — and every fallback
//!    path, such as popularity when a visitor is unknown — only proposes
//!    eligible items and still returns `n` of them when it can.
//! 2. **Blend** (`candidate::blend`) merges the lists.
//! 3. **Diversity** ([`mmr`], with [`AttributeSimilarity`] or embedding
//!    similarity per [`DiversityConfig`]) re-orders the blended list;
//!    `lambda = 1` (the default) leaves it alone.
//! 4. **Finish** ([`CompiledRules::finish`]) re-checks eligibility, applies
//!    boosts, the per-brand cap and the pins (pins must be eligible too),
//!    and truncates to `n`.
//! 5. **Promotions** ([`Promotions::active`] then [`Promotions::apply`],
//!    given the same predicate) place promoted items into at most half of
//!    the slots, keeping pinned positions, and return content slots.
//!
//! Because steps 1, 4 and 5 all use the one [`CompiledRules::eligible`]
//! test, every rule (stock, region, categories, price, filter expression,
//! excluded items, recent purchases, cart) holds on every path.
//!
//! Everything is configured with serde (JSON or TOML) and compiled once per
//! catalog; config errors are [`Error::Config`](crate::Error::Config)
//! naming the offending field as a dotted path, e.g.
//! `placements.home.rules.boosts[0].when.field`.
//!
//! ```
//! use sightline::demo::{generate, DemoConfig};
//! use sightline::rank::{mmr, AttributeSimilarity, Promotions, RuleContext, Rules};
//!
//! let catalog = generate(&DemoConfig { events: 1_000, ..DemoConfig::small() })?.catalog;
//! let rules: Rules = serde_json::from_str(r#"{
//!     "categories": ["frames"], "max_per_brand": 2,
//!     "boosts": [{"when": {"field": "material", "op": "eq", "value": "titanium"}, "factor": 1.5}]
//! }"#).unwrap();
//! let rules = rules.compile(&catalog, "placements.home.rules")?;
//! let ctx = RuleContext { region: Some("uk-london"), now: 1_750_000_000, ..Default::default() };
//! let keep = rules.predicate(&ctx);
//! // Stand-in for a blended source list.
//! let blended: Vec<_> = (0..catalog.len() as u32)
//!     .filter(|&i| keep(i))
//!     .take(100)
//!     .map(|i| sightline::candidate::Candidate {
//!         item: i, score: 1.0 / (1.0 + i as f32),
//!         source: sightline::candidate::SourceKind::Als, because: None,
//!     })
//!     .collect();
//! let sim = AttributeSimilarity::new(&catalog, &["brand".into(), "shape".into()], "diversity.by.attributes")?;
//! let diverse = mmr(&blended, 30, 0.7, &|a, b| sim.sim(a, b));
//! let list = rules.finish(diverse, &ctx, 10);
//! let promos = Promotions::compile(&[], &catalog, "promotions")?;
//! let out = promos.apply(&promos.active("home", ctx.region, ctx.now), list, 10, &keep);
//! assert_eq!(out.items.len(), 10);
//! # Ok::<(), sightline::Error>(())
//! ```

pub mod diversity;
pub mod expr;
pub mod promo;
pub mod rules;

pub use diversity::{mmr, AttributeSimilarity, DiversityBy, DiversityConfig, Mmr};
pub use expr::{CompiledExpr, Cond, Expr, Literal, Op};
pub use promo::{ContentSlot, PromoResult, Promotion, Promotions};
pub use rules::{Boost, CompiledRules, Pin, RuleContext, Rules};
