//! String ids ↔ dense `u32` indices, insertion-ordered.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::error::{Error, IdKind, Result};

/// An insertion-ordered bijection between string ids and dense indices
/// `0..len`. Models store one for users and one for items, so string ids
/// survive save/load in every runtime.
#[derive(Debug, Clone)]
pub struct IdMap {
    repr: Repr,
}

/// How the ids are held.
#[derive(Debug, Clone)]
enum Repr {
    /// The decimal ids `"0"` … `n−1` ([`IdMap::range`]): looked up by
    /// parsing, written out only when a caller asks for the strings, so that
    /// implicit-style callers with 200k bare indices pay nothing per id
    /// (a written-out map costs ~75 ms and ~25 MB for them).
    Range {
        n: usize,
        written: OnceLock<Vec<String>>,
    },
    /// Arbitrary ids and their indices.
    Named {
        ids: Vec<String>,
        index: HashMap<String, u32>,
    },
}

impl Default for IdMap {
    fn default() -> Self {
        IdMap {
            repr: Repr::Named {
                ids: Vec::new(),
                index: HashMap::new(),
            },
        }
    }
}

impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        match (&self.repr, &other.repr) {
            (Repr::Range { n: a, .. }, Repr::Range { n: b, .. }) => a == b,
            _ => self.len() == other.len() && self.ids() == other.ids(),
        }
    }
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// A map holding `ids` in order; duplicate ids are an error.
    pub fn from_ids<I, S>(ids: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut map = IdMap::new();
        for id in ids {
            let id = id.into();
            if map.get(&id).is_some() {
                return Err(Error::invalid(format!("duplicate id {id:?}")));
            }
            map.push_new(id)?;
        }
        Ok(map)
    }

    /// The decimal ids `"0"`, `"1"`, … `n-1` (used when a caller supplies
    /// bare indices, as implicit does). Costs nothing per id until the
    /// strings are asked for ([`ids`](Self::ids), [`id`](Self::id)) or the
    /// map changes.
    pub fn range(n: usize) -> Result<Self> {
        // In u64: on 32-bit targets (wasm) `u32::MAX + 1` overflows usize.
        if n as u64 > u64::from(u32::MAX) + 1 {
            return Err(Error::invalid("more than u32::MAX ids"));
        }
        Ok(IdMap {
            repr: Repr::Range {
                n,
                written: OnceLock::new(),
            },
        })
    }

    /// The ids and index of a map about to change, a range written out.
    fn named(&mut self) -> (&mut Vec<String>, &mut HashMap<String, u32>) {
        if let Repr::Range { n, written } = &mut self.repr {
            let ids = written.take().unwrap_or_else(|| decimal(*n));
            let index = ids.iter().zip(0..).map(|(id, i)| (id.clone(), i)).collect();
            self.repr = Repr::Named { ids, index };
        }
        match &mut self.repr {
            Repr::Named { ids, index } => (ids, index),
            Repr::Range { .. } => unreachable!("written out above"),
        }
    }

    fn push_new(&mut self, id: String) -> Result<u32> {
        let (ids, index) = self.named();
        let idx = u32::try_from(ids.len()).map_err(|_| Error::invalid("more than u32::MAX ids"))?;
        index.insert(id.clone(), idx);
        ids.push(id);
        Ok(idx)
    }

    /// The index of `id`, inserting it at the end when new.
    pub fn get_or_insert(&mut self, id: &str) -> Result<u32> {
        match self.get(id) {
            Some(i) => Ok(i),
            None => self.push_new(id.to_owned()),
        }
    }

    /// The index of `id`, if present.
    pub fn get(&self, id: &str) -> Option<u32> {
        match &self.repr {
            Repr::Range { n, .. } => {
                // Only the canonical spelling: no sign, no leading zeros.
                let canonical = id.bytes().all(|b| b.is_ascii_digit())
                    && !id.is_empty()
                    && (id == "0" || !id.starts_with('0'));
                let i: u32 = id.parse().ok().filter(|_| canonical)?;
                ((i as usize) < *n).then_some(i)
            }
            Repr::Named { index, .. } => index.get(id).copied(),
        }
    }

    /// The index of `id`, or a typed [`Error::UnknownId`].
    pub fn index_of(&self, id: &str, kind: IdKind) -> Result<u32> {
        self.get(id).ok_or_else(|| Error::UnknownId {
            kind,
            id: id.to_owned(),
        })
    }

    /// The id at `index`, if in range.
    pub fn id(&self, index: u32) -> Option<&str> {
        self.ids().get(index as usize).map(String::as_str)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Range { n, .. } => *n,
            Repr::Named { ids, .. } => ids.len(),
        }
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// All ids in index order (a range's are written out on first use).
    pub fn ids(&self) -> &[String] {
        match &self.repr {
            Repr::Range { n, written } => written.get_or_init(|| decimal(*n)),
            Repr::Named { ids, .. } => ids,
        }
    }

    /// The first of `ids` that [`append`](Self::append) would reject:
    /// already present, or repeated within `ids`.
    pub(crate) fn first_conflict<'a, S: AsRef<str>>(&self, ids: &'a [S]) -> Option<&'a str> {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        ids.iter()
            .map(AsRef::as_ref)
            .find(|&id| self.get(id).is_some() || !seen.insert(id))
    }

    /// Appends `ids` in order, all or nothing: when one is already present
    /// or repeated, the error names it and the map is unchanged (models
    /// grow by several rows at once and must not half-grow).
    pub fn append<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        if let Some(id) = self.first_conflict(ids) {
            return Err(Error::invalid(format!("duplicate id {id:?}")));
        }
        // In u64: on 32-bit targets (wasm) `u32::MAX + 1` overflows usize.
        if (self.len() + ids.len()) as u64 > u64::from(u32::MAX) + 1 {
            return Err(Error::invalid("more than u32::MAX ids"));
        }
        for id in ids {
            self.push_new(id.as_ref().to_owned())?;
        }
        Ok(())
    }

    /// Whether `index` holds a [`tombstone`](Self::tombstone): a forgotten
    /// row that must not come back.
    pub fn is_tombstone(&self, index: u32) -> bool {
        // A range has none (and is not written out to find that).
        matches!(self.repr, Repr::Named { .. })
            && self.id(index) == Some(Self::stone(index).as_str())
    }

    fn stone(index: u32) -> String {
        format!("\0forgotten:{index}")
    }

    /// Replaces the id at `index` by an anonymous tombstone
    /// (`"\0forgotten:{index}"`), keeping every index valid: how a user is
    /// erased from a model without renumbering its rows. Returns whether
    /// `index` existed.
    pub fn tombstone(&mut self, index: u32) -> bool {
        if index as usize >= self.len() {
            return false;
        }
        let stone = Self::stone(index);
        let (ids, map) = self.named();
        let old = std::mem::replace(&mut ids[index as usize], stone.clone());
        map.remove(&old);
        map.insert(stone, index);
        true
    }
}

/// `"0"` … `n−1`.
fn decimal(n: usize) -> Vec<String> {
    (0..n).map(|i| i.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insertion_order_and_lookup() {
        let mut m = IdMap::new();
        assert_eq!(m.get_or_insert("b").unwrap(), 0);
        assert_eq!(m.get_or_insert("a").unwrap(), 1);
        assert_eq!(m.get_or_insert("b").unwrap(), 0);
        assert_eq!(m.ids(), ["b", "a"]);
        assert_eq!(m.id(1), Some("a"));
        assert_eq!(m.id(2), None);
        assert!(matches!(
            m.index_of("zz", IdKind::Item),
            Err(Error::UnknownId { .. })
        ));
    }

    #[test]
    fn tombstones_keep_indices_and_drop_the_id() {
        let mut m = IdMap::from_ids(["alice", "bob"]).unwrap();
        assert!(m.tombstone(0));
        assert_eq!(m.get("alice"), None);
        assert_eq!(m.get("bob"), Some(1));
        assert_eq!(m.id(0), Some("\0forgotten:0"));
        assert!(!m.tombstone(5));
        assert!(m.is_tombstone(0));
        assert!(!m.is_tombstone(1));
        assert!(!m.is_tombstone(5));
    }

    #[test]
    fn append_is_all_or_nothing() {
        let mut m = IdMap::from_ids(["a", "b"]).unwrap();
        assert_eq!(m.first_conflict(&["c", "b"]), Some("b"));
        assert_eq!(m.first_conflict(&["c", "d", "c"]), Some("c"));
        assert!(m.append(&["c", "a"]).is_err());
        assert!(m.append(&["c", "c"]).is_err());
        assert_eq!(m.ids(), ["a", "b"]);
        m.append(&["c", "d"]).unwrap();
        assert_eq!(m.ids(), ["a", "b", "c", "d"]);
        assert_eq!(m.get("d"), Some(3));
    }

    #[test]
    fn duplicates_rejected() {
        assert!(IdMap::from_ids(["x", "y", "x"]).is_err());
        assert_eq!(IdMap::range(3).unwrap().ids(), ["0", "1", "2"]);
    }

    #[test]
    fn a_range_behaves_as_its_written_out_ids() {
        let range = IdMap::range(12).unwrap();
        let written = IdMap::from_ids((0..12).map(|i| i.to_string())).unwrap();
        assert_eq!(range, written);
        assert_eq!(written, range);
        assert_ne!(range, IdMap::range(11).unwrap());
        for id in [
            "0",
            "7",
            "11",
            "12",
            "01",
            "+1",
            "-0",
            "",
            " 1",
            "1 ",
            "x",
            "4294967296",
        ] {
            assert_eq!(range.get(id), written.get(id), "{id:?}");
        }
        assert_eq!(range.len(), 12);
        assert_eq!(range.id(11), Some("11"));
        assert_eq!(range.id(12), None);
        assert!(!range.is_tombstone(3));
        assert_eq!(range.first_conflict(&["12", "3"]), Some("3"));
        // Changes write the range out first and keep every index.
        let mut grown = range.clone();
        assert_eq!(grown.get_or_insert("5").unwrap(), 5);
        assert_eq!(grown.get_or_insert("new").unwrap(), 12);
        assert!(grown.append(&["1"]).is_err());
        assert_eq!(grown.len(), 13);
        assert_eq!(grown.get("11"), Some(11));
        let mut erased = range.clone();
        assert!(erased.tombstone(4));
        assert!(!erased.tombstone(12));
        assert_eq!(erased.get("4"), None);
        assert!(erased.is_tombstone(4));
        assert_eq!(erased.get("5"), Some(5));
        assert!(IdMap::range(0).unwrap().is_empty());
    }
}
