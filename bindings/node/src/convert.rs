//! The JS spelling of the core's serde types: JS objects name their fields
//! in camelCase, the core in snake_case. Only *field* names change; map keys
//! (placement names, source names, metric names, item attributes) are data
//! and pass untouched.

use napi::bindgen_prelude::Unknown;
use serde::de::DeserializeOwned;
use serde::ser::{self, Serialize};
use serde_json::{Map, Value};
use sightline::{Error, Result};

/// `context_items` → `contextItems`.
fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `contextItems` → `context_items` (a snake_case name is unchanged).
fn snake_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len() + 4);
    for c in field.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// JS has one number type: napi hands integers beyond the `u32`/`i32` range
/// (e.g. `now: 5e9`) over as floats, which integer fields reject. Integral
/// values within the exact range of a double become JSON integers again.
pub(crate) fn integral_numbers(value: &mut Value) {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match value {
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= EXACT) {
                if !n.is_i64() && !n.is_u64() {
                    // `as` is exact here: |f| <= 2^53.
                    *n = (f as i64).into();
                }
            }
        }
        Value::Array(values) => values.iter_mut().for_each(integral_numbers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers),
        _ => {}
    }
}

/// A core record (request, event, catalog item) from its JS object: the
/// object's own keys are its fields and go to snake_case; nested values
/// (e.g. an item's `attributes` map) are data and are kept as given.
pub(crate) fn from_camel<T: DeserializeOwned>(value: Value) -> serde_json::Result<T> {
    let value = match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (snake_case(&k), v))
                .collect(),
        ),
        other => other,
    };
    serde_json::from_value(value)
}

/// A core value as JSON whose struct fields are camelCase, at every depth;
/// map keys and enum tags keep the core's spelling.
pub(crate) fn to_camel<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Value> {
    value.serialize(Camel)
}

/// A JS value as JSON. `NaN`, `±Infinity`, functions and symbols have no
/// JSON form: `INVALID_INPUT` naming `what`.
pub(crate) fn json(value: &Unknown<'_>, what: &str) -> Result<Value> {
    // SAFETY: `Value::from_napi_value` accepts a value of any JS type (it
    // dispatches on `typeof` and reports what it cannot convert).
    let mut value = unsafe { value.cast::<Value>() }
        .map_err(|e| Error::InvalidInput(format!("{what} has no JSON form: {}", e.reason)))?;
    integral_numbers(&mut value);
    Ok(value)
}

/// A core record from its JS object (camelCase fields).
fn record<T: DeserializeOwned>(value: Value, what: &str) -> Result<T> {
    from_camel(value).map_err(|e| Error::InvalidInput(format!("{what}: {e}")))
}

/// A core record from a JS argument.
pub(crate) fn input<T: DeserializeOwned>(value: &Unknown<'_>, what: &str) -> Result<T> {
    record(json(value, what)?, what)
}

/// The records of a JS array; an error names the position.
pub(crate) fn records<T: DeserializeOwned>(value: Value, what: &str) -> Result<Vec<T>> {
    match value {
        Value::Array(values) => values
            .into_iter()
            .enumerate()
            .map(|(i, v)| record(v, &format!("{what} {i}")))
            .collect(),
        other => Err(Error::InvalidInput(format!(
            "{what}s must be an array, got {other}"
        ))),
    }
}

/// A core value as a plain JS object (camelCase fields).
pub(crate) fn out<T: Serialize>(value: T) -> Result<Value> {
    to_camel(&value).map_err(|e| Error::InvalidInput(e.to_string()))
}

/// A JS number used as Unix seconds: an integer (NaN, ±∞ and fractions are
/// `INVALID_INPUT`).
pub(crate) fn to_timestamp(t: f64) -> Result<i64> {
    if t.is_finite() && t.fract() == 0.0 {
        // `as` saturates beyond the i64 range; t is an integer here.
        Ok(t as i64)
    } else {
        Err(Error::InvalidInput(format!(
            "timestamp must be an integer (Unix seconds), got {t}"
        )))
    }
}

/// A model's settings (`AlsConfig`, `CooccurConfig`, …) from a JS object
/// with camelCase fields (nested settings objects too); missing fields take
/// the core's defaults. A field of the wrong type is a `CONFIG` error
/// naming it (the core's [`sightline::config::from_value`]); a value with
/// no JSON form (NaN, ±Infinity) a `CONFIG` error naming `what`.
pub(crate) fn settings<T: DeserializeOwned>(value: Option<&Unknown<'_>>, what: &str) -> Result<T> {
    let tree = match value {
        // A setting of NaN or ±Infinity is a bad config value, as in Python
        // and Rust (where it reaches the core's checks): `CONFIG`.
        Some(v) => snake_fields(json(v, what).map_err(|e| match e {
            Error::InvalidInput(message) => Error::Config {
                field: what.into(),
                message,
            },
            other => other,
        })?),
        None => Value::Object(Map::new()),
    };
    sightline::config::from_value(tree)
}

/// `value` with the field names of every nested object in snake_case.
/// Settings also hold maps (region → parent region, kind → weight) whose
/// keys are data: a key that does not start with a lowercase letter (`NL`)
/// cannot be a camelCase field and is kept as given.
pub(crate) fn snake_fields(value: Value) -> Value {
    let field = |k: String| {
        if k.starts_with(|c: char| c.is_ascii_lowercase()) {
            snake_case(&k)
        } else {
            k
        }
    };
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .map(|(k, v)| (field(k), snake_fields(v)))
                .collect(),
        ),
        other => other,
    }
}

/// `serde_json::value::Serializer` with camelCase struct fields: scalars
/// are delegated, compounds collected here so nested structs are renamed
/// too.
struct Camel;

type Json = serde_json::value::Serializer;
type Res = serde_json::Result<Value>;

macro_rules! delegate {
    ($($method:ident($ty:ty)),* $(,)?) => {
        $(fn $method(self, v: $ty) -> Res {
            ser::Serializer::$method(Json {}, v)
        })*
    };
}

impl ser::Serializer for Camel {
    type Ok = Value;
    type Error = serde_json::Error;
    type SerializeSeq = Seq;
    type SerializeTuple = Seq;
    type SerializeTupleStruct = Seq;
    type SerializeTupleVariant = Tagged<Seq>;
    type SerializeMap = MapOf;
    type SerializeStruct = Fields;
    type SerializeStructVariant = Tagged<Fields>;

    delegate!(
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_i128(i128),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_u128(u128),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
    );

    /// The shortest decimal of the `f32` (`0.4`, as JSON text gives it to
    /// Python), not its exact widening (`0.4000000059604645`).
    fn serialize_f32(self, v: f32) -> Res {
        let v = v.to_string().parse::<f64>().unwrap_or(f64::from(v));
        ser::Serializer::serialize_f64(Json {}, v)
    }

    fn serialize_none(self) -> Res {
        Ok(Value::Null)
    }

    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Res {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Res {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _: &'static str) -> Res {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(self, _: &'static str, _: u32, variant: &'static str) -> Res {
        Ok(Value::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(self, _: &'static str, value: &T) -> Res {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Res {
        Ok(tag(variant, value.serialize(Camel)?))
    }

    fn serialize_seq(self, len: Option<usize>) -> serde_json::Result<Seq> {
        Ok(Seq(Vec::with_capacity(len.unwrap_or(0))))
    }

    fn serialize_tuple(self, len: usize) -> serde_json::Result<Seq> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> serde_json::Result<Seq> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        len: usize,
    ) -> serde_json::Result<Tagged<Seq>> {
        Ok(Tagged(variant, self.serialize_seq(Some(len))?))
    }

    fn serialize_map(self, _: Option<usize>) -> serde_json::Result<MapOf> {
        Ok(MapOf(Map::new(), None))
    }

    fn serialize_struct(self, _: &'static str, _: usize) -> serde_json::Result<Fields> {
        Ok(Fields(Map::new()))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> serde_json::Result<Tagged<Fields>> {
        Ok(Tagged(variant, Fields(Map::new())))
    }
}

/// `{variant: value}`, serde's external enum tagging.
fn tag(variant: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(variant.to_owned(), value);
    Value::Object(m)
}

/// Elements of a sequence or tuple.
struct Seq(Vec<Value>);

impl Seq {
    fn push<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        self.0.push(value.serialize(Camel)?);
        Ok(())
    }
}

impl ser::SerializeSeq for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        self.push(value)
    }
    fn end(self) -> Res {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTuple for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        self.push(value)
    }
    fn end(self) -> Res {
        Ok(Value::Array(self.0))
    }
}

impl ser::SerializeTupleStruct for Seq {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        self.push(value)
    }
    fn end(self) -> Res {
        Ok(Value::Array(self.0))
    }
}

/// A map: keys are data, kept as the core spells them.
struct MapOf(Map<String, Value>, Option<String>);

impl ser::SerializeMap for MapOf {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> serde_json::Result<()> {
        // JSON object keys are strings; numbers and booleans are written as
        // JSON writes them.
        let key = match key.serialize(Camel)? {
            Value::String(s) => s,
            k @ (Value::Number(_) | Value::Bool(_)) => k.to_string(),
            other => {
                return Err(ser::Error::custom(format!(
                    "map key must be a string, got {other}"
                )))
            }
        };
        self.1 = Some(key);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        let key = self
            .1
            .take()
            .ok_or_else(|| ser::Error::custom("map value without a key"))?;
        self.0.insert(key, value.serialize(Camel)?);
        Ok(())
    }
    fn end(self) -> Res {
        Ok(Value::Object(self.0))
    }
}

/// A struct: its field names go to camelCase.
struct Fields(Map<String, Value>);

impl Fields {
    fn field<T: ?Sized + Serialize>(&mut self, key: &str, value: &T) -> serde_json::Result<()> {
        self.0.insert(camel_case(key), value.serialize(Camel)?);
        Ok(())
    }
}

impl ser::SerializeStruct for Fields {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.field(key, value)
    }
    fn end(self) -> Res {
        Ok(Value::Object(self.0))
    }
}

/// A tuple or struct enum variant, tagged with the variant's name.
struct Tagged<S>(&'static str, S);

impl ser::SerializeTupleVariant for Tagged<Seq> {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> serde_json::Result<()> {
        self.1.push(value)
    }
    fn end(self) -> Res {
        Ok(tag(self.0, Value::Array(self.1 .0)))
    }
}

impl ser::SerializeStructVariant for Tagged<Fields> {
    type Ok = Value;
    type Error = serde_json::Error;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> serde_json::Result<()> {
        self.1.field(key, value)
    }
    fn end(self) -> Res {
        Ok(tag(self.0, Value::Object(self.1 .0)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Serialize};
    use serde_json::json;

    use super::*;

    #[derive(Serialize)]
    struct Inner {
        latency_us: u64,
        score: f32,
    }

    #[derive(Serialize)]
    enum Kind {
        TrendingNow,
        Custom(String),
        Shaped { min_score: f32 },
    }

    #[derive(Serialize)]
    struct Outer {
        recommendation_id: String,
        by_source: BTreeMap<String, Inner>,
        kinds: Vec<Kind>,
        missing: Option<u8>,
    }

    #[test]
    fn struct_fields_go_camel_case_and_map_keys_stay() {
        let v = to_camel(&Outer {
            recommendation_id: "r1".into(),
            by_source: [(
                "trending_now".to_owned(),
                Inner {
                    latency_us: 7,
                    score: 0.4,
                },
            )]
            .into(),
            kinds: vec![
                Kind::TrendingNow,
                Kind::Custom("wish_list".into()),
                Kind::Shaped { min_score: 0.5 },
            ],
            missing: None,
        })
        .unwrap();
        assert_eq!(
            v,
            json!({
                "recommendationId": "r1",
                "bySource": {"trending_now": {"latencyUs": 7, "score": 0.4}},
                "kinds": ["TrendingNow", {"Custom": "wish_list"}, {"Shaped": {"minScore": 0.5}}],
                "missing": null,
            })
        );
    }

    #[test]
    fn integral_floats_become_integers_and_fractions_stay() {
        let mut v = json!([5e9, -5e9, 2.5, 3, {"now": 1.7e12}, 1e300]);
        integral_numbers(&mut v);
        assert_eq!(
            v,
            json!([5_000_000_000i64, -5_000_000_000i64, 2.5, 3, {"now": 1_700_000_000_000i64}, 1e300])
        );
        assert!(v[0].is_i64());
        assert!(
            v[5].is_f64(),
            "beyond 2^53 a double is not an exact integer"
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Record {
        context_items: Vec<String>,
        attributes: BTreeMap<String, String>,
    }

    #[test]
    fn record_fields_come_from_camel_case_and_nested_keys_stay() {
        let r: Record = from_camel(json!({
            "contextItems": ["a"],
            "attributes": {"frameShape": "round"},
        }))
        .unwrap();
        assert_eq!(r.context_items, ["a"]);
        assert_eq!(r.attributes["frameShape"], "round");
        // The core's own spelling is accepted too; unknown fields are not.
        assert!(from_camel::<Record>(json!({"context_items": [], "attributes": {}})).is_ok());
        assert!(from_camel::<Record>(json!({"contextItem": [], "attributes": {}})).is_err());
    }

    #[test]
    fn settings_fields_go_to_snake_case_at_every_depth_but_map_keys_stay() {
        let tree = snake_fields(json!({
            "halfLifeHours": 12,
            "weights": { "addToCart": 3 },
            "regionParent": { "NL": "eu", "uk-north": "uk" },
        }));
        assert_eq!(
            tree,
            json!({
                "half_life_hours": 12,
                "weights": { "add_to_cart": 3 },
                "region_parent": { "NL": "eu", "uk-north": "uk" },
            })
        );
        let config: sightline::trending::TrendingConfig =
            sightline::config::from_value(tree).unwrap();
        assert_eq!(config.weights.add_to_cart, 3.0);
        assert_eq!(config.region_parent["NL"], "eu");
    }
}
