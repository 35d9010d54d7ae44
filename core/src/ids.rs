//! String ids ↔ dense `u32` indices, insertion-ordered.

use std::collections::HashMap;

use crate::error::{Error, IdKind, Result};

/// An insertion-ordered bijection between string ids and dense indices
/// `0..len`. Models store one for users and one for items, so string ids
/// survive save/load in every runtime.
#[derive(Debug, Clone, Default)]
pub struct IdMap {
    ids: Vec<String>,
    index: HashMap<String, u32>,
}

impl PartialEq for IdMap {
    fn eq(&self, other: &Self) -> bool {
        self.ids == other.ids
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
            if map.index.contains_key(&id) {
                return Err(Error::invalid(format!("duplicate id {id:?}")));
            }
            map.push_new(id)?;
        }
        Ok(map)
    }

    /// The decimal ids `"0"`, `"1"`, … `n-1` (used when a caller supplies
    /// bare indices, as implicit does).
    pub fn range(n: usize) -> Result<Self> {
        Self::from_ids((0..n).map(|i| i.to_string()))
    }

    fn push_new(&mut self, id: String) -> Result<u32> {
        let idx =
            u32::try_from(self.ids.len()).map_err(|_| Error::invalid("more than u32::MAX ids"))?;
        self.index.insert(id.clone(), idx);
        self.ids.push(id);
        Ok(idx)
    }

    /// The index of `id`, inserting it at the end when new.
    pub fn get_or_insert(&mut self, id: &str) -> Result<u32> {
        match self.index.get(id) {
            Some(&i) => Ok(i),
            None => self.push_new(id.to_owned()),
        }
    }

    /// The index of `id`, if present.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
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
        self.ids.get(index as usize).map(String::as_str)
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The first of `ids` that [`append`](Self::append) would reject:
    /// already present, or repeated within `ids`.
    pub(crate) fn first_conflict<'a, S: AsRef<str>>(&self, ids: &'a [S]) -> Option<&'a str> {
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        ids.iter()
            .map(AsRef::as_ref)
            .find(|&id| self.index.contains_key(id) || !seen.insert(id))
    }

    /// Appends `ids` in order, all or nothing: when one is already present
    /// or repeated, the error names it and the map is unchanged (models
    /// grow by several rows at once and must not half-grow).
    pub fn append<S: AsRef<str>>(&mut self, ids: &[S]) -> Result<()> {
        if let Some(id) = self.first_conflict(ids) {
            return Err(Error::invalid(format!("duplicate id {id:?}")));
        }
        // In u64: on 32-bit targets (wasm) `u32::MAX + 1` overflows usize.
        if (self.ids.len() + ids.len()) as u64 > u64::from(u32::MAX) + 1 {
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
        self.id(index) == Some(Self::stone(index).as_str())
    }

    fn stone(index: u32) -> String {
        format!("\0forgotten:{index}")
    }

    /// Replaces the id at `index` by an anonymous tombstone
    /// (`"\0forgotten:{index}"`), keeping every index valid: how a user is
    /// erased from a model without renumbering its rows. Returns whether
    /// `index` existed.
    pub fn tombstone(&mut self, index: u32) -> bool {
        let Some(old) = self.ids.get(index as usize).cloned() else {
            return false;
        };
        let stone = Self::stone(index);
        self.index.remove(&old);
        self.index.insert(stone.clone(), index);
        self.ids[index as usize] = stone;
        true
    }
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
}
