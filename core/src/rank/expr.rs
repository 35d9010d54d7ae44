//! Attribute expressions: the boolean conditions that filters, boosts and
//! pins are written in, e.g.
//!
//! ```json
//! {"all": [
//!   {"field": "category", "op": "eq", "value": "frames"},
//!   {"any": [{"field": "material", "op": "eq", "value": "titanium"},
//!            {"field": "price", "op": "ge", "value": 200}]},
//!   {"not": {"field": "colours", "op": "contains", "value": "pink"}}
//! ]}
//! ```
//!
//! Every node is one JSON/TOML object with exactly one shape: `all`, `any`,
//! `not`, or a condition (`field`, `op`, optional `value`). Unknown keys are
//! rejected, so a typo never silently widens a filter.
//!
//! An expression is compiled once per catalog ([`Expr::compile`]): the
//! result for every item is precomputed into a bitset, so a request only
//! does a bit lookup ([`CompiledExpr::matches`]).
//!
//! ## Fields
//! Built-in fields: `id`, `title`, `category`, `brand` (text), `price`
//! (number) and `in_stock` (boolean). Any other name is an item attribute
//! and must occur on at least one catalog item; a built-in name wins over an
//! attribute of the same name.
//!
//! ## Operators
//! * `eq` / `ne` — equal / not equal to a scalar; a list attribute is equal
//!   when any element is. `ne` is exactly `not eq`, so an item without the
//!   field matches `ne`.
//! * `in` / `not_in` — `eq` to any element of a list value / `not in`.
//! * `lt`, `le`, `gt`, `ge` — numeric comparison; needs a number value; an
//!   item whose field is missing or not numeric never matches.
//! * `contains` — on text fields a case-insensitive substring test
//!   (`title contains "aviator"`); on list attributes an exact element test.
//! * `exists` — the field is present (`value` omitted or `true`), or absent
//!   (`value: false`). Brand and price may be absent; an empty title counts
//!   as absent.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::data::{AttrValue, Catalog, Item};
use crate::error::{Error, Result};

/// Deepest nesting [`Expr::compile`] accepts; deeper trees are surely a
/// generated mistake and would risk the stack.
pub const MAX_DEPTH: usize = 32;

/// The built-in item fields an expression (or a diversity rule) may name.
pub const BUILTIN_FIELDS: [&str; 6] = ["id", "title", "category", "brand", "price", "in_stock"];

/// A comparison operator of a [`Cond`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Equal (any element, for list attributes).
    Eq,
    /// Not equal (the negation of `eq`).
    Ne,
    /// Equal to one of the listed values.
    In,
    /// Not equal to any of the listed values.
    NotIn,
    /// Less than (numbers only).
    Lt,
    /// Less than or equal (numbers only).
    Le,
    /// Greater than (numbers only).
    Gt,
    /// Greater than or equal (numbers only).
    Ge,
    /// Substring (text, case-insensitive) or element (list) test.
    Contains,
    /// The field is present (or, with `value: false`, absent).
    Exists,
}

/// A literal on the right-hand side of a condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// `true` / `false` (for `in_stock` and `exists`).
    Bool(bool),
    /// A number (integers from JSON/TOML are accepted).
    Number(f64),
    /// A string.
    Text(String),
    /// A list of scalars (for `in` / `not_in`).
    List(Vec<Literal>),
}

impl From<&str> for Literal {
    fn from(s: &str) -> Self {
        Literal::Text(s.to_owned())
    }
}

impl From<f64> for Literal {
    fn from(x: f64) -> Self {
        Literal::Number(x)
    }
}

impl From<bool> for Literal {
    fn from(b: bool) -> Self {
        Literal::Bool(b)
    }
}

/// A leaf condition: `field op value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    /// A built-in field or an attribute key.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The right-hand side; only `exists` may omit it.
    pub value: Option<Literal>,
}

/// A boolean expression over item fields (see the module docs for the
/// shapes and semantics).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawExpr", into = "RawExpr")]
pub enum Expr {
    /// All sub-expressions hold (an empty list is true).
    All(Vec<Expr>),
    /// At least one sub-expression holds (an empty list is false).
    Any(Vec<Expr>),
    /// The sub-expression does not hold.
    Not(Box<Expr>),
    /// A leaf condition.
    Cond(Cond),
}

/// The wire form: one object whose keys decide the shape. Kept private so
/// the public enum stays pleasant to build in Rust.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExpr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<Vec<Expr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any: Option<Vec<Expr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not: Option<Box<Expr>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    op: Option<Op>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<Literal>,
}

/// Why a wire object is not an expression.
#[derive(Debug)]
pub struct ShapeError(&'static str);

impl fmt::Display for ShapeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl TryFrom<RawExpr> for Expr {
    type Error = ShapeError;

    fn try_from(r: RawExpr) -> std::result::Result<Self, ShapeError> {
        const SHAPES: &str =
            "an expression is exactly one of {\"all\": [..]}, {\"any\": [..]}, {\"not\": ..} or {\"field\", \"op\", \"value\"}";
        let is_cond = r.field.is_some() || r.op.is_some() || r.value.is_some();
        match (r.all, r.any, r.not, is_cond) {
            (Some(v), None, None, false) => Ok(Expr::All(v)),
            (None, Some(v), None, false) => Ok(Expr::Any(v)),
            (None, None, Some(e), false) => Ok(Expr::Not(e)),
            (None, None, None, true) => match (r.field, r.op) {
                (Some(field), Some(op)) => Ok(Expr::Cond(Cond {
                    field,
                    op,
                    value: r.value,
                })),
                _ => Err(ShapeError("a condition needs both \"field\" and \"op\"")),
            },
            _ => Err(ShapeError(SHAPES)),
        }
    }
}

impl From<Expr> for RawExpr {
    fn from(e: Expr) -> Self {
        let mut r = RawExpr {
            all: None,
            any: None,
            not: None,
            field: None,
            op: None,
            value: None,
        };
        match e {
            Expr::All(v) => r.all = Some(v),
            Expr::Any(v) => r.any = Some(v),
            Expr::Not(e) => r.not = Some(e),
            Expr::Cond(c) => {
                r.field = Some(c.field);
                r.op = Some(c.op);
                r.value = c.value;
            }
        }
        r
    }
}

impl Expr {
    /// A leaf condition `field op value`.
    pub fn cond(field: impl Into<String>, op: Op, value: impl Into<Literal>) -> Self {
        Expr::Cond(Cond {
            field: field.into(),
            op,
            value: Some(value.into()),
        })
    }

    /// Validates against `catalog` and precomputes the result for every
    /// item. `path` is the dotted config path of this expression; errors
    /// name the offending part below it (e.g. `{path}.all[1].field`).
    pub fn compile(&self, catalog: &Catalog, path: &str) -> Result<CompiledExpr> {
        let kinds = attribute_kinds(catalog);
        let bits = self.compile_at(catalog, &kinds, path, 0)?;
        Ok(CompiledExpr { bits })
    }

    fn compile_at(
        &self,
        catalog: &Catalog,
        kinds: &HashMap<&str, Kinds>,
        path: &str,
        depth: usize,
    ) -> Result<BitSet> {
        if depth > MAX_DEPTH {
            return Err(Error::config(
                path,
                format!("expression nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        let n = catalog.len();
        match self {
            Expr::All(v) => {
                let mut acc = BitSet::full(n);
                for (i, e) in v.iter().enumerate() {
                    let sub = join(path, &format!("all[{i}]"));
                    acc.and_with(&e.compile_at(catalog, kinds, &sub, depth + 1)?);
                }
                Ok(acc)
            }
            Expr::Any(v) => {
                let mut acc = BitSet::new(n);
                for (i, e) in v.iter().enumerate() {
                    let sub = join(path, &format!("any[{i}]"));
                    acc.or_with(&e.compile_at(catalog, kinds, &sub, depth + 1)?);
                }
                Ok(acc)
            }
            Expr::Not(e) => {
                let mut b = e.compile_at(catalog, kinds, &join(path, "not"), depth + 1)?;
                b.negate();
                Ok(b)
            }
            Expr::Cond(c) => {
                let m = Matcher::new(c, kinds, path)?;
                Ok(BitSet::from_fn(n, |i| {
                    catalog.item(i).is_some_and(|it| m.eval(it))
                }))
            }
        }
    }
}

/// An [`Expr`] evaluated for every catalog item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledExpr {
    bits: BitSet,
}

impl CompiledExpr {
    /// Whether catalog item `item` matches; out of range → `false`.
    #[inline]
    pub fn matches(&self, item: u32) -> bool {
        self.bits.get(item)
    }

    /// Number of matching catalog items.
    pub fn count(&self) -> usize {
        self.bits.count()
    }
}

/// `path.seg`, or `seg` when `path` is empty.
pub(crate) fn join(path: &str, seg: &str) -> String {
    if path.is_empty() {
        seg.to_owned()
    } else if seg.starts_with('[') {
        format!("{path}{seg}")
    } else {
        format!("{path}.{seg}")
    }
}

/// Whether `name` is a built-in field or an attribute of some item.
pub(crate) fn field_exists(catalog: &Catalog, name: &str) -> bool {
    BUILTIN_FIELDS.contains(&name)
        || catalog
            .items()
            .iter()
            .any(|it| it.attributes.contains_key(name))
}

/// Which value kinds an attribute takes across the catalog.
#[derive(Debug, Clone, Copy, Default)]
struct Kinds {
    number: bool,
    text: bool,
}

fn attribute_kinds(catalog: &Catalog) -> HashMap<&str, Kinds> {
    let mut m: HashMap<&str, Kinds> = HashMap::new();
    for it in catalog.items() {
        for (k, v) in &it.attributes {
            let e = m.entry(k.as_str()).or_default();
            match v {
                AttrValue::Number(_) => e.number = true,
                AttrValue::Text(_) | AttrValue::List(_) => e.text = true,
            }
        }
    }
    m
}

/// A field's value on one item, borrowed.
enum Fv<'a> {
    Missing,
    Bool(bool),
    Num(f64),
    Text(&'a str),
    List(&'a [String]),
}

#[derive(Debug, Clone, PartialEq)]
enum FieldRef {
    Id,
    Title,
    Category,
    Brand,
    Price,
    InStock,
    Attr(String),
}

impl FieldRef {
    fn get<'a>(&self, it: &'a Item) -> Fv<'a> {
        match self {
            FieldRef::Id => Fv::Text(&it.id),
            FieldRef::Title if it.title.is_empty() => Fv::Missing,
            FieldRef::Title => Fv::Text(&it.title),
            FieldRef::Category => Fv::Text(&it.category),
            FieldRef::Brand => it.brand.as_deref().map_or(Fv::Missing, Fv::Text),
            FieldRef::Price => it.price.map_or(Fv::Missing, Fv::Num),
            FieldRef::InStock => Fv::Bool(it.in_stock),
            FieldRef::Attr(k) => match it.attributes.get(k) {
                None => Fv::Missing,
                Some(AttrValue::Number(x)) => Fv::Num(*x),
                Some(AttrValue::Text(s)) => Fv::Text(s),
                Some(AttrValue::List(l)) => Fv::List(l),
            },
        }
    }
}

/// A validated condition, ready to evaluate on items.
struct Matcher {
    field: FieldRef,
    op: Op,
    /// The scalar(s) compared against (one for all ops but `in`/`not_in`).
    values: Vec<Literal>,
    /// Lower-cased needle for text `contains`.
    needle: String,
    /// For `exists`: whether presence (true) or absence (false) matches.
    want: bool,
}

impl Matcher {
    fn new(c: &Cond, kinds: &HashMap<&str, Kinds>, path: &str) -> Result<Self> {
        let fpath = join(path, "field");
        let vpath = join(path, "value");
        let field = match c.field.as_str() {
            "" => return Err(Error::config(fpath, "field name must be non-empty")),
            "id" => FieldRef::Id,
            "title" => FieldRef::Title,
            "category" => FieldRef::Category,
            "brand" => FieldRef::Brand,
            "price" => FieldRef::Price,
            "in_stock" => FieldRef::InStock,
            other if kinds.contains_key(other) => FieldRef::Attr(other.to_owned()),
            other => {
                return Err(Error::config(
                    fpath,
                    format!(
                        "unknown field {other:?}: not a built-in field ({}) and no catalog item has this attribute",
                        BUILTIN_FIELDS.join(", ")
                    ),
                ))
            }
        };
        // What the field can hold, to reject comparisons that can never match.
        let (num_ok, text_ok, bool_ok) = match &field {
            FieldRef::Price => (true, false, false),
            FieldRef::InStock => (false, false, true),
            FieldRef::Attr(k) => {
                let kd = kinds.get(k.as_str()).copied().unwrap_or_default();
                (kd.number, kd.text, false)
            }
            _ => (false, true, false),
        };
        let check_scalar = |v: &Literal, at: &str| -> Result<()> {
            let ok = match v {
                Literal::Bool(_) => bool_ok,
                Literal::Number(x) => num_ok && x.is_finite(),
                Literal::Text(_) => text_ok,
                Literal::List(_) => false,
            };
            if ok {
                Ok(())
            } else {
                Err(Error::config(
                    at,
                    format!(
                        "{} does not fit field {:?} (holds {})",
                        describe(v),
                        c.field,
                        holds(num_ok, text_ok, bool_ok)
                    ),
                ))
            }
        };
        let mut m = Matcher {
            field,
            op: c.op,
            values: Vec::new(),
            needle: String::new(),
            want: true,
        };
        match (c.op, &c.value) {
            (Op::Exists, None) => {}
            (Op::Exists, Some(Literal::Bool(b))) => m.want = *b,
            (Op::Exists, Some(v)) => {
                return Err(Error::config(
                    vpath,
                    format!("`exists` takes no value or a boolean, got {}", describe(v)),
                ))
            }
            (op, None) => {
                return Err(Error::config(
                    vpath,
                    format!("`{}` needs a value", op_name(op)),
                ))
            }
            (Op::In | Op::NotIn, Some(Literal::List(l))) => {
                for (i, v) in l.iter().enumerate() {
                    check_scalar(v, &format!("{vpath}[{i}]"))?;
                }
                m.values = l.clone();
            }
            (Op::In | Op::NotIn, Some(v)) => {
                return Err(Error::config(
                    vpath,
                    format!("`{}` needs a list, got {}", op_name(c.op), describe(v)),
                ))
            }
            (Op::Lt | Op::Le | Op::Gt | Op::Ge, Some(v)) => {
                if !matches!(v, Literal::Number(x) if x.is_finite()) {
                    return Err(Error::config(
                        vpath,
                        format!(
                            "`{}` needs a finite number, got {}",
                            op_name(c.op),
                            describe(v)
                        ),
                    ));
                }
                if !num_ok {
                    return Err(Error::config(
                        join(path, "op"),
                        format!(
                            "`{}` needs a numeric field; {:?} holds {}",
                            op_name(c.op),
                            c.field,
                            holds(num_ok, text_ok, bool_ok)
                        ),
                    ));
                }
                m.values = vec![v.clone()];
            }
            (Op::Contains, Some(Literal::Text(s))) => {
                if !text_ok {
                    return Err(Error::config(
                        join(path, "op"),
                        format!(
                            "`contains` needs a text or list field; {:?} holds {}",
                            c.field,
                            holds(num_ok, text_ok, bool_ok)
                        ),
                    ));
                }
                m.needle = s.to_lowercase();
                m.values = vec![Literal::Text(s.clone())];
            }
            (Op::Contains, Some(v)) => {
                return Err(Error::config(
                    vpath,
                    format!("`contains` needs a string, got {}", describe(v)),
                ))
            }
            (Op::Eq | Op::Ne, Some(v)) => {
                check_scalar(v, &vpath)?;
                m.values = vec![v.clone()];
            }
        }
        Ok(m)
    }

    fn eval(&self, it: &Item) -> bool {
        let fv = self.field.get(it);
        match self.op {
            Op::Eq => self.values.first().is_some_and(|v| eq(&fv, v)),
            Op::Ne => !self.values.first().is_some_and(|v| eq(&fv, v)),
            Op::In => self.values.iter().any(|v| eq(&fv, v)),
            Op::NotIn => !self.values.iter().any(|v| eq(&fv, v)),
            Op::Lt | Op::Le | Op::Gt | Op::Ge => match (&fv, self.values.first()) {
                (Fv::Num(a), Some(Literal::Number(b))) => match self.op {
                    Op::Lt => a < b,
                    Op::Le => a <= b,
                    Op::Gt => a > b,
                    _ => a >= b,
                },
                _ => false,
            },
            Op::Contains => match &fv {
                Fv::Text(s) => s.to_lowercase().contains(&self.needle),
                Fv::List(l) => {
                    matches!(self.values.first(), Some(Literal::Text(t)) if l.contains(t))
                }
                _ => false,
            },
            Op::Exists => !matches!(fv, Fv::Missing) == self.want,
        }
    }
}

fn eq(fv: &Fv, v: &Literal) -> bool {
    match (fv, v) {
        (Fv::Bool(a), Literal::Bool(b)) => a == b,
        (Fv::Num(a), Literal::Number(b)) => a == b,
        (Fv::Text(a), Literal::Text(b)) => *a == b,
        (Fv::List(l), Literal::Text(b)) => l.contains(b),
        _ => false,
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Eq => "eq",
        Op::Ne => "ne",
        Op::In => "in",
        Op::NotIn => "not_in",
        Op::Lt => "lt",
        Op::Le => "le",
        Op::Gt => "gt",
        Op::Ge => "ge",
        Op::Contains => "contains",
        Op::Exists => "exists",
    }
}

fn describe(v: &Literal) -> String {
    match v {
        Literal::Bool(b) => format!("boolean {b}"),
        Literal::Number(x) => format!("number {x}"),
        Literal::Text(s) => format!("string {s:?}"),
        Literal::List(_) => "a list".to_owned(),
    }
}

fn holds(num: bool, text: bool, boolean: bool) -> &'static str {
    match (num, text, boolean) {
        (_, _, true) => "booleans",
        (true, true, _) => "numbers and text",
        (true, false, _) => "numbers",
        (false, true, _) => "text",
        _ => "nothing",
    }
}

/// A fixed-size set of catalog indices (one bit per item).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct BitSet {
    words: Vec<u64>,
    len: usize,
}

impl BitSet {
    pub(crate) fn new(len: usize) -> Self {
        BitSet {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    pub(crate) fn full(len: usize) -> Self {
        let mut b = BitSet::new(len);
        b.negate();
        b
    }

    pub(crate) fn from_fn(len: usize, f: impl Fn(u32) -> bool) -> Self {
        let mut b = BitSet::new(len);
        for i in 0..len {
            if f(i as u32) {
                b.set(i as u32);
            }
        }
        b
    }

    #[inline]
    pub(crate) fn get(&self, i: u32) -> bool {
        let i = i as usize;
        i < self.len
            && self
                .words
                .get(i / 64)
                .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    pub(crate) fn set(&mut self, i: u32) {
        let i = i as usize;
        if i < self.len {
            if let Some(w) = self.words.get_mut(i / 64) {
                *w |= 1 << (i % 64);
            }
        }
    }

    pub(crate) fn and_with(&mut self, o: &BitSet) {
        for (i, w) in self.words.iter_mut().enumerate() {
            *w &= o.words.get(i).copied().unwrap_or(0);
        }
    }

    pub(crate) fn or_with(&mut self, o: &BitSet) {
        for (w, x) in self.words.iter_mut().zip(&o.words) {
            *w |= x;
        }
    }

    /// Complements in place, keeping the bits past `len` clear so `count`
    /// and equality stay exact.
    pub(crate) fn negate(&mut self) {
        for w in &mut self.words {
            *w = !*w;
        }
        let tail = self.len % 64;
        if tail != 0 {
            if let Some(w) = self.words.last_mut() {
                *w &= (1u64 << tail) - 1;
            }
        }
    }

    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::demo::{generate, DemoConfig};
    use std::sync::OnceLock;

    /// The small demo catalog, generated once for all rank tests.
    pub(crate) fn demo() -> &'static Catalog {
        static C: OnceLock<Catalog> = OnceLock::new();
        C.get_or_init(|| generate(&DemoConfig::small()).unwrap().catalog)
    }

    fn parse(j: &str) -> Expr {
        serde_json::from_str(j).unwrap()
    }

    fn brute(c: &Catalog, f: impl Fn(&Item) -> bool) -> Vec<u32> {
        (0..c.len() as u32)
            .filter(|&i| f(c.item(i).unwrap()))
            .collect()
    }

    fn hits(e: &CompiledExpr, c: &Catalog) -> Vec<u32> {
        (0..c.len() as u32).filter(|&i| e.matches(i)).collect()
    }

    fn attr<'a>(it: &'a Item, k: &str) -> Option<&'a AttrValue> {
        it.attributes.get(k)
    }

    #[test]
    fn text_number_and_list_attributes_match_the_brute_force_answer() {
        let c = demo();
        let e = parse(r#"{"field": "material", "op": "eq", "value": "titanium"}"#)
            .compile(c, "f")
            .unwrap();
        let want = brute(c, |it| {
            attr(it, "material") == Some(&AttrValue::Text("titanium".into()))
        });
        assert!(!want.is_empty());
        assert_eq!(hits(&e, c), want);
        assert_eq!(e.count(), want.len());

        // List attribute: eq / contains / in match any element.
        let has = |it: &Item, col: &str| matches!(attr(it, "colours"), Some(AttrValue::List(l)) if l.iter().any(|x| x == col));
        let want = brute(c, |it| has(it, "gold"));
        assert!(!want.is_empty());
        for j in [
            r#"{"field": "colours", "op": "eq", "value": "gold"}"#,
            r#"{"field": "colours", "op": "contains", "value": "gold"}"#,
            r#"{"field": "colours", "op": "in", "value": ["gold", "no-such-colour"]}"#,
        ] {
            assert_eq!(hits(&parse(j).compile(c, "f").unwrap(), c), want, "{j}");
        }
        let e = parse(r#"{"field": "colours", "op": "not_in", "value": ["gold", "black"]}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(
            hits(&e, c),
            brute(c, |it| !has(it, "gold") && !has(it, "black"))
        );

        // Numbers, including integers as TOML/JSON write them.
        let e = parse(
            r#"{"all": [{"field": "lens_width", "op": "ge", "value": 52},
                                   {"field": "lens_width", "op": "lt", "value": 55.0}]}"#,
        )
        .compile(c, "f")
        .unwrap();
        let want = brute(
            c,
            |it| matches!(attr(it, "lens_width"), Some(AttrValue::Number(w)) if (52.0..55.0).contains(w)),
        );
        assert!(!want.is_empty());
        assert_eq!(hits(&e, c), want);
        let e = parse(r#"{"field": "price", "op": "le", "value": 100}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(
            hits(&e, c),
            brute(c, |it| it.price.is_some_and(|p| p <= 100.0))
        );
    }

    #[test]
    fn boolean_combinators_builtins_and_exists() {
        let c = demo();
        let e = parse(
            r#"{"all": [
                {"field": "category", "op": "in", "value": ["frames", "sunglasses"]},
                {"not": {"field": "brand", "op": "eq", "value": "Ray-Ban"}},
                {"any": [{"field": "shape", "op": "eq", "value": "round"},
                         {"field": "in_stock", "op": "eq", "value": false}]}
            ]}"#,
        )
        .compile(c, "f")
        .unwrap();
        let want = brute(c, |it| {
            (it.category == "frames" || it.category == "sunglasses")
                && it.brand.as_deref() != Some("Ray-Ban")
                && (attr(it, "shape") == Some(&AttrValue::Text("round".into())) || !it.in_stock)
        });
        assert!(!want.is_empty());
        assert_eq!(hits(&e, c), want);
        let e = parse(r#"{"field": "polarised", "op": "exists"}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(hits(&e, c), brute(c, |it| it.category == "sunglasses"));
        let e = parse(r#"{"field": "polarised", "op": "exists", "value": false}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(hits(&e, c), brute(c, |it| it.category != "sunglasses"));
        // Case-insensitive substring on text; `ne` includes items lacking the field.
        let e = parse(r#"{"field": "title", "op": "contains", "value": "RAY-BAN"}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(
            hits(&e, c),
            brute(c, |it| it.title.to_lowercase().contains("ray-ban"))
        );
        let e = parse(r#"{"field": "shape", "op": "ne", "value": "round"}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(
            hits(&e, c),
            brute(c, |it| attr(it, "shape")
                != Some(&AttrValue::Text("round".into())))
        );
        let e = parse(r#"{"field": "id", "op": "eq", "value": "FR-00001"}"#)
            .compile(c, "f")
            .unwrap();
        assert_eq!(hits(&e, c), vec![c.ids().get("FR-00001").unwrap()]);
        // Empty all / any; out of range never matches.
        assert_eq!(Expr::All(vec![]).compile(c, "f").unwrap().count(), c.len());
        let none = Expr::Any(vec![]).compile(c, "f").unwrap();
        assert_eq!(none.count(), 0);
        let all = Expr::All(vec![]).compile(c, "f").unwrap();
        assert!(!all.matches(c.len() as u32) && !all.matches(u32::MAX));
    }

    #[test]
    fn invalid_expressions_name_the_field_path() {
        let c = demo();
        let err = |j: &str| match parse(j).compile(c, "placements.home.rules.filter") {
            Err(Error::Config { field, .. }) => field,
            other => panic!("{j}: {other:?}"),
        };
        let p = "placements.home.rules.filter";
        assert_eq!(
            err(r#"{"field": "materiel", "op": "eq", "value": "x"}"#),
            format!("{p}.field")
        );
        assert_eq!(
            err(
                r#"{"all": [{"field": "price", "op": "gt", "value": 1}, {"any": [{"field": "nope", "op": "exists"}]}]}"#
            ),
            format!("{p}.all[1].any[0].field")
        );
        assert_eq!(
            err(r#"{"field": "price", "op": "lt", "value": "cheap"}"#),
            format!("{p}.value")
        );
        assert_eq!(
            err(r#"{"not": {"field": "shape", "op": "gt", "value": 3}}"#),
            format!("{p}.not.op")
        );
        assert_eq!(
            err(r#"{"field": "category", "op": "eq", "value": 3}"#),
            format!("{p}.value")
        );
        assert_eq!(
            err(r#"{"field": "in_stock", "op": "eq", "value": "yes"}"#),
            format!("{p}.value")
        );
        assert_eq!(
            err(r#"{"field": "shape", "op": "in", "value": "round"}"#),
            format!("{p}.value")
        );
        assert_eq!(
            err(r#"{"field": "shape", "op": "in", "value": ["round", 4]}"#),
            format!("{p}.value[1]")
        );
        assert_eq!(
            err(r#"{"field": "shape", "op": "eq"}"#),
            format!("{p}.value")
        );
        assert_eq!(
            err(r#"{"field": "lens_width", "op": "contains", "value": "4"}"#),
            format!("{p}.op")
        );
        assert_eq!(
            err(r#"{"field": "shape", "op": "exists", "value": 1}"#),
            format!("{p}.value")
        );
        let nan = Expr::cond("price", Op::Lt, f64::NAN);
        assert!(
            matches!(nan.compile(c, "x"), Err(Error::Config { field, .. }) if field == "x.value")
        );
        let mut deep = Expr::cond("price", Op::Gt, 1.0);
        for _ in 0..40 {
            deep = Expr::Not(Box::new(deep));
        }
        assert!(matches!(deep.compile(c, "x"), Err(Error::Config { .. })));
        // Empty catalog: every attribute is unknown, built-ins still work.
        let empty = Catalog::new();
        assert!(parse(r#"{"field": "shape", "op": "exists"}"#)
            .compile(&empty, "f")
            .is_err());
        assert_eq!(
            parse(r#"{"field": "price", "op": "gt", "value": 1}"#)
                .compile(&empty, "f")
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn wire_shapes_round_trip_and_reject_ambiguity() {
        let j = r#"{"all":[{"field":"colours","op":"in","value":["gold","black"]},{"not":{"field":"brand","op":"exists"}},{"any":[]}]}"#;
        let e = parse(j);
        assert_eq!(serde_json::to_string(&e).unwrap(), j);
        let v: serde_json::Value = serde_json::from_str(j).unwrap();
        assert_eq!(serde_json::from_value::<Expr>(v).unwrap(), e);
        for bad in [
            r#"{"all": [], "any": []}"#,
            r#"{"field": "x"}"#,
            r#"{"all": [], "field": "x", "op": "eq"}"#,
            r#"{"field": "x", "op": "eq", "valu": 1}"#,
            r#"{"field": "x", "op": "between", "value": 1}"#,
            r#"{}"#,
        ] {
            assert!(serde_json::from_str::<Expr>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bitset_edges() {
        for n in [0usize, 1, 63, 64, 65, 130] {
            let f = BitSet::full(n);
            assert_eq!(f.count(), n);
            let mut e = BitSet::new(n);
            e.negate();
            assert_eq!(e, f);
            assert!(!f.get(n as u32));
            let odd = BitSet::from_fn(n, |i| i % 2 == 1);
            assert_eq!(odd.count(), n / 2);
        }
    }
}
