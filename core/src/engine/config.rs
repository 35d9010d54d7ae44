//! The engine's configuration: placements as pipelines of sources, rules,
//! diversity and fallbacks; promotions; experiments; store settings. Read
//! from TOML or JSON; every error names the offending field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::experiment::{merge_patch, ExperimentConfig};
use crate::rank::{DiversityBy, DiversityConfig, Promotion, Rules};
use crate::resilience::BreakerConfig;
use crate::session::SessionConfig;
use crate::tracking::TrackingConfig;
use crate::trending::TrendingConfig;

/// A candidate source a placement asks.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SourceName {
    /// ALS: the customer's factors, or a fold-in of the context items.
    Als,
    /// Content neighbours of the context items.
    Content,
    /// Co-occurrence ("goes well with") of the context items.
    Cooccur,
    /// The visitor's recent browsing.
    Session,
    /// Popular in the visitor's region (with back-off).
    Popular,
    /// Trending now in the visitor's region.
    TrendingNow,
    /// A source registered with [`Engine::register_source`](super::Engine::register_source).
    External(String),
}

impl SourceName {
    /// The config spelling: `als`, `content`, …, `external:<name>`.
    pub fn as_string(&self) -> String {
        match self {
            SourceName::Als => "als".into(),
            SourceName::Content => "content".into(),
            SourceName::Cooccur => "cooccur".into(),
            SourceName::Session => "session".into(),
            SourceName::Popular => "popular".into(),
            SourceName::TrendingNow => "trending_now".into(),
            SourceName::External(n) => format!("external:{n}"),
        }
    }

    /// Parses the config spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "als" => SourceName::Als,
            "content" => SourceName::Content,
            "cooccur" => SourceName::Cooccur,
            "session" => SourceName::Session,
            "popular" => SourceName::Popular,
            "trending_now" => SourceName::TrendingNow,
            _ => match s.strip_prefix("external:") {
                Some(n) if !n.is_empty() => SourceName::External(n.to_owned()),
                _ => return None,
            },
        })
    }

    /// Whether the source uses what is known about the visitor (their
    /// history or session): left out without consent.
    pub fn is_personal(&self) -> bool {
        matches!(self, SourceName::Als | SourceName::Session)
    }
}

impl Serialize for SourceName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.as_string())
    }
}

impl<'de> Deserialize<'de> for SourceName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SourceName::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown source {s:?} (als, content, cooccur, session, popular, trending_now or external:<name>)"
            ))
        })
    }
}

/// One source of a placement's pipeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Which source.
    pub source: SourceName,
    /// Blend weight (its scores are scaled to 0–1 first).
    #[serde(default = "one")]
    pub weight: f32,
    /// At most this many of the final items from this source.
    #[serde(default)]
    pub quota: Option<usize>,
    /// Candidates asked of it (default: 3 × n).
    #[serde(default)]
    pub candidates: Option<usize>,
    /// Time budget of one call in milliseconds; a slower call is discarded
    /// and counts against the source's circuit breaker.
    #[serde(default = "default_budget_ms")]
    pub budget_ms: f64,
}

fn one() -> f32 {
    1.0
}

fn default_budget_ms() -> f64 {
    25.0
}

impl SourceSpec {
    /// A spec with weight `weight` and default budget.
    pub fn new(source: SourceName, weight: f32) -> Self {
        SourceSpec {
            source,
            weight,
            quota: None,
            candidates: None,
            budget_ms: default_budget_ms(),
        }
    }

    fn validate(&self, path: &str) -> Result<()> {
        if !self.weight.is_finite() || self.weight < 0.0 {
            return Err(Error::config(
                format!("{path}.weight"),
                format!("must be finite and >= 0, got {}", self.weight),
            ));
        }
        if self.quota == Some(0) {
            return Err(Error::config(
                format!("{path}.quota"),
                "must be >= 1 (or absent)",
            ));
        }
        if self.candidates == Some(0) || self.candidates.is_some_and(|c| c > 10_000) {
            return Err(Error::config(
                format!("{path}.candidates"),
                "must be in 1..=10000",
            ));
        }
        if !(self.budget_ms.is_finite() && self.budget_ms > 0.0 && self.budget_ms <= 60_000.0) {
            return Err(Error::config(
                format!("{path}.budget_ms"),
                format!("must be in (0, 60000], got {}", self.budget_ms),
            ));
        }
        Ok(())
    }
}

/// A placement: where recommendations are shown, and how they are made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PlacementConfig {
    /// Items returned when the request does not say.
    pub n: usize,
    /// Sources blended for the main list.
    pub sources: Vec<SourceSpec>,
    /// Business rules (filters, boosts, pins), applied on every path.
    pub rules: Rules,
    /// Diversity re-ranking.
    pub diversity: DiversityConfig,
    /// Tried in order while the list is short of `n`; the chain always
    /// ends with popular-in-region, then the whole catalog.
    pub fallback: Vec<SourceSpec>,
    /// Whether promotions may take slots here.
    pub promotions: bool,
    /// Deadline of a whole request in milliseconds.
    pub deadline_ms: f64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig {
            n: 10,
            sources: vec![SourceSpec::new(SourceName::Popular, 1.0)],
            rules: Rules::default(),
            diversity: DiversityConfig::default(),
            fallback: vec![SourceSpec::new(SourceName::TrendingNow, 1.0)],
            promotions: true,
            deadline_ms: 100.0,
        }
    }
}

impl PlacementConfig {
    /// Checks the pipeline (rules are checked when compiled against the
    /// catalog); errors name the field under `path`.
    pub fn validate(&self, path: &str) -> Result<()> {
        if self.n == 0 || self.n > 1000 {
            return Err(Error::config(format!("{path}.n"), "must be in 1..=1000"));
        }
        if self.sources.is_empty() {
            return Err(Error::config(
                format!("{path}.sources"),
                "needs at least one source",
            ));
        }
        for (i, s) in self.sources.iter().enumerate() {
            s.validate(&format!("{path}.sources[{i}]"))?;
        }
        for (i, s) in self.fallback.iter().enumerate() {
            s.validate(&format!("{path}.fallback[{i}]"))?;
        }
        if !(self.deadline_ms.is_finite() && self.deadline_ms > 0.0 && self.deadline_ms <= 60_000.0)
        {
            return Err(Error::config(
                format!("{path}.deadline_ms"),
                format!("must be in (0, 60000], got {}", self.deadline_ms),
            ));
        }
        Ok(())
    }

    fn with(sources: Vec<SourceSpec>, lambda: f32) -> Self {
        PlacementConfig {
            sources,
            diversity: DiversityConfig {
                lambda,
                by: DiversityBy::default(),
            },
            ..Default::default()
        }
    }
}

/// Puts `path` in front of a config error's field (other errors pass).
pub(crate) fn prefix(e: Error, path: &str) -> Error {
    match e {
        Error::Config { field, message } => Error::config(format!("{path}.{field}"), message),
        other => other,
    }
}

/// The five placements every shop has, with sensible pipelines:
///
/// * `home` — personal (ALS) + recent browsing + popular in the region,
///   diversified;
/// * `product_page` — similar items (content) + also bought, with a little
///   ALS for the visitor;
/// * `cart` — complements of the cart (co-occurrence), then similar items;
/// * `email` — personal without session (sent later, elsewhere);
/// * `in_store` — popular in the store's region + personal, in stock there.
pub fn default_placements() -> BTreeMap<String, PlacementConfig> {
    use SourceName::*;
    let s = SourceSpec::new;
    let mut m = BTreeMap::new();
    m.insert(
        "home".into(),
        PlacementConfig::with(vec![s(Als, 1.0), s(Session, 1.0), s(Popular, 0.4)], 0.7),
    );
    m.insert(
        "product_page".into(),
        PlacementConfig::with(vec![s(Content, 1.0), s(Cooccur, 0.8), s(Als, 0.3)], 0.85),
    );
    m.insert(
        "cart".into(),
        PlacementConfig::with(vec![s(Cooccur, 1.0), s(Content, 0.3)], 0.9),
    );
    let mut email = PlacementConfig::with(vec![s(Als, 1.0), s(Popular, 0.2)], 0.6);
    email.deadline_ms = 1000.0;
    m.insert("email".into(), email);
    m.insert(
        "in_store".into(),
        PlacementConfig::with(vec![s(Popular, 1.0), s(Als, 0.6)], 0.8),
    );
    m
}

/// Everything the engine is configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Placements by name; the five defaults of [`default_placements`] are
    /// always there, and one given here is a merge patch on its defaults
    /// (see [`EngineConfig::from_value`]).
    pub placements: BTreeMap<String, PlacementConfig>,
    /// Promotions and content slots (marketing's section).
    pub promotions: Vec<Promotion>,
    /// A/B experiments. A variant's `overrides` is a JSON merge patch on
    /// `{"placements": …, "promotions": …}`.
    pub experiments: Vec<ExperimentConfig>,
    /// Live session store.
    pub session: SessionConfig,
    /// Live trending store.
    pub trending: TrendingConfig,
    /// Attribution windows.
    pub tracking: TrackingConfig,
    /// Circuit breaker of every source.
    pub breaker: BreakerConfig,
    /// Display names of regions for explanations ("uk-north-west" →
    /// "North West England"). Empty by default: a region without a name is
    /// shown by its code ("Popular in uk-north-west this week"). The keys
    /// are also regions whose popular list is cached for the last fallback,
    /// next to every region some catalog item lists. The country level of
    /// "popular"/"trending" back-off is [`TrendingConfig::region_parent`].
    pub region_names: BTreeMap<String, String>,
    /// Popular items kept per region for the last fallback.
    pub popular_cache_size: usize,
    /// A request needing the last fallback recomputes the popular cache
    /// when it is this many seconds away from the request's time (0 = only
    /// by `refresh_popular` and `ingest_batch`).
    pub popular_refresh_seconds: u64,
    /// Customers whose purchases are remembered for "exclude purchased"
    /// (default 100 000; at most 200 purchases each); beyond it the one
    /// whose last purchase is oldest is forgotten. Under 460 bytes per
    /// customer with one purchase (measured in tests/memory_bounds.rs
    /// together with the session entry the purchase also makes), plus 16
    /// per further purchase.
    pub purchase_history_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            placements: default_placements(),
            promotions: Vec::new(),
            experiments: Vec::new(),
            session: SessionConfig::default(),
            trending: TrendingConfig::default(),
            tracking: TrackingConfig::default(),
            breaker: BreakerConfig::default(),
            region_names: BTreeMap::new(),
            popular_cache_size: 500,
            popular_refresh_seconds: 900,
            purchase_history_capacity: crate::privacy::DEFAULT_PURCHASE_CUSTOMERS,
        }
    }
}

impl EngineConfig {
    /// Parses TOML (see [`from_value`](Self::from_value)).
    pub fn from_toml(text: &str) -> Result<Self> {
        let value = toml::from_str(text).map_err(|e| Error::config("<toml>", e.to_string()))?;
        Self::from_value(value)
    }

    /// Parses JSON (see [`from_value`](Self::from_value)).
    pub fn from_json(text: &str) -> Result<Self> {
        let value =
            serde_json::from_str(text).map_err(|e| Error::config("<json>", e.to_string()))?;
        Self::from_value(value)
    }

    /// From a JSON value (e.g. a Python dict). A default placement named
    /// here is a JSON merge patch (RFC 7386) on its defaults, so
    /// `{"placements": {"home": {"n": 6}}}` changes only `n` and keeps the
    /// home sources (arrays such as `sources` are replaced whole); other
    /// placements start from [`PlacementConfig::default`].
    pub fn from_value(mut value: serde_json::Value) -> Result<Self> {
        // serde would read a struct from an array too (`[]` = all defaults).
        if !value.is_object() {
            return Err(Error::config("<root>", "a config must be an object"));
        }
        if let Some(serde_json::Value::Object(given)) = value.get_mut("placements") {
            for (name, default) in default_placements() {
                if let Some(patch) = given.get_mut(&name) {
                    let mut base = serde_json::to_value(default)
                        .map_err(|e| Error::config(format!("placements.{name}"), e.to_string()))?;
                    merge_patch(&mut base, patch);
                    *patch = base;
                }
            }
        }
        Self::finish(serde_path_to_error::deserialize(value))
    }

    /// Adds the default placements and validates; deserialisation errors
    /// carry the dotted path of the field that failed.
    fn finish<E: std::fmt::Display>(
        parsed: std::result::Result<Self, serde_path_to_error::Error<E>>,
    ) -> Result<Self> {
        let mut c = parsed.map_err(|e| {
            let path = e.path().to_string();
            Error::config(
                if path == "." { "<root>".into() } else { path },
                e.inner().to_string(),
            )
        })?;
        c.add_default_placements();
        c.validate()?;
        Ok(c)
    }

    fn add_default_placements(&mut self) {
        for (name, p) in default_placements() {
            self.placements.entry(name).or_insert(p);
        }
    }

    /// Checks what can be checked without a catalog (rules, promotions and
    /// experiments are compiled against it when the engine gets models).
    pub fn validate(&self) -> Result<()> {
        for (name, p) in &self.placements {
            if name.is_empty() {
                return Err(Error::config(
                    "placements",
                    "placement names must be non-empty",
                ));
            }
            p.validate(&format!("placements.{name}"))?;
        }
        self.session.validate().map_err(|e| prefix(e, "session"))?;
        self.trending
            .validate()
            .map_err(|e| prefix(e, "trending"))?;
        self.tracking
            .validate()
            .map_err(|e| prefix(e, "tracking"))?;
        self.breaker.validate().map_err(|e| prefix(e, "breaker"))?;
        if self.popular_cache_size == 0 || self.popular_cache_size > 100_000 {
            return Err(Error::config("popular_cache_size", "must be in 1..=100000"));
        }
        if !(1..=crate::session::MAX_CAPACITY).contains(&self.purchase_history_capacity) {
            return Err(Error::config(
                "purchase_history_capacity",
                format!(
                    "must be in 1..={}, got {}",
                    crate::session::MAX_CAPACITY,
                    self.purchase_history_capacity
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_default_placement_patches_its_defaults() {
        let defaults = default_placements();
        let c = EngineConfig::from_json(
            r#"{"placements": {"home": {"n": 6, "rules": {"max_per_brand": 2}},
                               "cart": {"sources": [{"source": "popular"}]},
                               "checkout": {"n": 4}}}"#,
        )
        .unwrap();
        let home = &c.placements["home"];
        assert_eq!(home.n, 6);
        assert_eq!(home.rules.max_per_brand, Some(2));
        assert_eq!(home.sources, defaults["home"].sources);
        assert_eq!(home.diversity, defaults["home"].diversity);
        // arrays are replaced whole
        let cart = &c.placements["cart"];
        assert_eq!(cart.sources.len(), 1);
        assert_eq!(cart.sources[0].source, SourceName::Popular);
        assert_eq!(cart.rules, defaults["cart"].rules);
        // a new placement starts from the plain defaults
        assert_eq!(
            c.placements["checkout"].sources,
            PlacementConfig::default().sources
        );
        // the same through TOML
        let t = EngineConfig::from_toml("[placements.home]\nn = 6\n").unwrap();
        assert_eq!(t.placements["home"].sources, defaults["home"].sources);
        // errors still name the field
        let e = EngineConfig::from_json(r#"{"placements": {"home": {"n": "six"}}}"#).unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "placements.home.n"),
            "{e}"
        );
        let e = EngineConfig::from_json("{not json").unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "<json>"),
            "{e}"
        );
    }
}
