//! The typed request and response of [`Engine::recommend`](super::Engine::recommend).
//!
//! Every type is serde in both directions with the field names the JSON of
//! the bindings uses, so a binding converts them with a serde bridge and
//! writes no rule of its own.

use serde::{Deserialize, Serialize};

use crate::candidate::SourceKind;
use crate::data::Channel;
use crate::rank::ContentSlot;

/// A recommendation request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Request {
    /// Placement name (`home`, `product_page`, `cart`, `email`, `in_store`
    /// or one from the config).
    pub placement: String,
    /// Known customer id.
    pub user: Option<String>,
    /// Anonymous visitor id (the `user` of their events) when there is no
    /// known customer; also the experiment unit for anonymous traffic.
    pub session: Option<String>,
    /// Region code of the visitor or store.
    pub region: Option<String>,
    /// Sales channel.
    pub channel: Option<Channel>,
    /// Items in context: the product on the page.
    pub context_items: Vec<String>,
    /// Items in the cart.
    pub cart: Vec<String>,
    /// Restrict popularity to a category (e.g. a category page).
    pub category: Option<String>,
    /// Items wanted (default: the placement's `n`).
    pub n: Option<usize>,
    /// Whether the visitor consented to personalisation and tracking.
    /// Without it: no personal sources, nothing stored about them (see
    /// [`Consent`](crate::privacy::Consent)).
    pub consent: bool,
    /// Request time, Unix seconds (default: now).
    pub now: Option<i64>,
}

/// One recommended item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResponseItem {
    /// Item id.
    pub item: String,
    /// Blended score (comparable within one response).
    pub score: f32,
    /// The source that put it here.
    pub source: SourceKind,
    /// Why, for people.
    pub reason: String,
    /// The promotion id when promoted.
    pub promotion: Option<String>,
}

/// How one source of a request fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceStatus {
    /// It answered in time.
    Ok,
    /// It returned an error or panicked.
    Failed,
    /// It overran its budget.
    Timeout,
    /// Its circuit breaker is open.
    BreakerOpen,
    /// The request's deadline left it no time.
    NoTime,
    /// No model or registered source behind it.
    Unavailable,
    /// A personal source left out because the visitor did not consent.
    NotPersonal,
}

impl SourceStatus {
    /// The serde spelling (also the `status` label of the source metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            SourceStatus::Ok => "ok",
            SourceStatus::Failed => "failed",
            SourceStatus::Timeout => "timeout",
            SourceStatus::BreakerOpen => "breaker_open",
            SourceStatus::NoTime => "no_time",
            SourceStatus::Unavailable => "unavailable",
            SourceStatus::NotPersonal => "not_personal",
        }
    }
}

/// Compares with the serde spelling, as the status was a string before.
impl PartialEq<&str> for SourceStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What happened to one source of a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Config spelling of the source.
    pub source: String,
    /// How it fared.
    pub status: SourceStatus,
    /// Candidates it gave.
    pub candidates: usize,
    /// Time it took in microseconds.
    pub latency_us: u64,
}

/// The answer to a [`Request`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Id to report impressions, clicks and conversions against.
    pub recommendation_id: String,
    /// The placement.
    pub placement: String,
    /// The experiment this request took part in.
    pub experiment: Option<String>,
    /// Its variant (`default` outside experiments, `holdout` in a holdout).
    pub variant: String,
    /// The items, best first.
    pub items: Vec<ResponseItem>,
    /// Content slots (banners) of active promotions.
    pub content: Vec<ContentSlot>,
    /// Whether anything beyond the main sources was needed.
    pub fallback_used: bool,
    /// Whether personal sources were used.
    pub personalised: bool,
    /// Per-source outcome, main sources then fallbacks.
    pub sources: Vec<SourceReport>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_status_serialises_as_its_label() {
        for s in [
            SourceStatus::Ok,
            SourceStatus::Failed,
            SourceStatus::Timeout,
            SourceStatus::BreakerOpen,
            SourceStatus::NoTime,
            SourceStatus::Unavailable,
            SourceStatus::NotPersonal,
        ] {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(serde_json::from_str::<SourceStatus>(&json).unwrap(), s);
            assert!(s == s.as_str());
        }
    }

    #[test]
    fn request_json_keeps_its_field_names_and_rejects_unknown_ones() {
        let r: Request = serde_json::from_str(
            r#"{"placement":"home","user":"u1","context_items":["a"],"consent":true,"n":3}"#,
        )
        .unwrap();
        assert_eq!(r.placement, "home");
        assert_eq!(r.user.as_deref(), Some("u1"));
        assert_eq!((r.n, r.consent), (Some(3), true));
        assert!(serde_json::from_str::<Request>(r#"{"placment":"home"}"#).is_err());
    }
}
