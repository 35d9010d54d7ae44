//! The model file: one versioned, checksummed container that every runtime
//! reads and writes byte-for-byte the same way.
//!
//! # Layout
//!
//! A model file is a valid [safetensors](https://github.com/huggingface/safetensors)
//! file, so numpy/`safetensors` can inspect it too:
//!
//! ```text
//! u64 little-endian  N = header length
//! N bytes            JSON header: tensor name → {dtype, shape, data_offsets}
//!                    plus "__metadata__": {"sightline": S}, where S is the
//!                    JSON text of an object with sorted keys:
//!                      "checksum"       = "crc32:<8 hex digits>"
//!                      "format"         = "sightline"
//!                      "format_version" = 1
//!                      "meta"           = JSON text of the components' metadata
//! data               tensors, little-endian, contiguous
//! ```
//!
//! The checksum is CRC-32 (IEEE) over the `meta` string followed by, for
//! every tensor in name order, its name, dtype name, shape (u64 LE each)
//! and raw bytes — so data, shapes and config are all covered.
//!
//! Tensor names used by the components of this version:
//!
//! | name | dtype | shape |
//! |---|---|---|
//! | `ids.users`, `ids.items` | U8 | UTF-8 bytes of all ids concatenated |
//! | `ids.users.offsets`, `ids.items.offsets` | U64 | `len + 1` byte offsets |
//! | `als.user_factors` / `als.item_factors` | F32 | `[n_users, k]` / `[n_items, k]` |
//! | `interactions.indptr` | U64 | `[n_users + 1]` |
//! | `interactions.indices` | U32 | `[nnz]` |
//! | `interactions.data` | F32 | `[nnz]` |
//! | `cooccur.*` | — | item-item neighbours, see [`crate::cooccur`] |
//! | `trending.*` | — | decayed segment counts, see [`crate::trending`] |

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{Map, Value};

use crate::data::Csr;
use crate::error::{Error, Result};
use crate::ids::IdMap;

/// Value of the `format` metadata key.
pub const FORMAT_NAME: &str = "sightline";
/// The format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// A model part stored in the model file under its own name prefix (ALS,
/// co-occurrence, trending, …). Several components can share one file;
/// implementors write and read their part, the file format does the rest.
pub trait Component: Sized {
    /// Writes this component's tensors and metadata into `file`.
    fn write_to(&self, file: &mut ModelFile) -> Result<()>;

    /// Reads this component from `file`, validating everything.
    fn read_from(file: &ModelFile) -> Result<Self>;

    /// The bytes of a model file holding only this component.
    fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut f = ModelFile::new();
        self.write_to(&mut f)?;
        f.to_bytes()
    }

    /// Reads this component from model file bytes (which may hold others too).
    fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::read_from(&ModelFile::from_bytes(bytes)?)
    }

    /// Saves a model file holding only this component, atomically.
    fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let mut f = ModelFile::new();
        self.write_to(&mut f)?;
        f.save(path)
    }

    /// Loads this component from the model file at `path`.
    fn load(path: impl AsRef<Path>) -> Result<Self> {
        Self::read_from(&ModelFile::load(path)?)
    }
}

/// The typed contents of one tensor.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// Unsigned 32-bit integers.
    U32(Vec<u32>),
    /// Unsigned 64-bit integers.
    U64(Vec<u64>),
    /// Bytes.
    U8(Vec<u8>),
}

impl TensorData {
    fn dtype(&self) -> Dtype {
        match self {
            TensorData::F32(_) => Dtype::F32,
            TensorData::U32(_) => Dtype::U32,
            TensorData::U64(_) => Dtype::U64,
            TensorData::U8(_) => Dtype::U8,
        }
    }

    fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::U32(v) => v.len(),
            TensorData::U64(v) => v.len(),
            TensorData::U8(v) => v.len(),
        }
    }

    fn to_le_bytes(&self) -> Vec<u8> {
        match self {
            TensorData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            TensorData::U8(v) => v.clone(),
        }
    }

    fn from_le_bytes(dtype: Dtype, bytes: &[u8]) -> Result<Self> {
        fn words<const N: usize, T>(bytes: &[u8], f: fn([u8; N]) -> T) -> Vec<T> {
            bytes
                .chunks_exact(N)
                .map(|c| f(c.try_into().expect("chunks_exact yields N bytes")))
                .collect()
        }
        Ok(match dtype {
            Dtype::F32 => TensorData::F32(words(bytes, f32::from_le_bytes)),
            Dtype::U32 => TensorData::U32(words(bytes, u32::from_le_bytes)),
            Dtype::U64 => TensorData::U64(words(bytes, u64::from_le_bytes)),
            Dtype::U8 => TensorData::U8(bytes.to_vec()),
            other => return Err(Error::format(format!("unsupported tensor dtype {other:?}"))),
        })
    }
}

/// One named tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions; their product equals the number of values.
    pub shape: Vec<usize>,
    /// The values.
    pub data: TensorData,
}

/// An in-memory model file: named tensors plus JSON metadata. Components
/// (ALS, interactions, id maps, …) write themselves into it under their own
/// name prefix, so new components extend the format without breaking it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ModelFile {
    meta: Map<String, Value>,
    tensors: BTreeMap<String, Tensor>,
}

fn checksum(meta: &str, tensors: &BTreeMap<String, (Dtype, Vec<usize>, &[u8])>) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(meta.as_bytes());
    for (name, (dtype, shape, bytes)) in tensors {
        h.update(name.as_bytes());
        h.update(dtype.to_string().as_bytes());
        for &d in shape {
            h.update(&(d as u64).to_le_bytes());
        }
        h.update(bytes);
    }
    h.finalize()
}

impl ModelFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets metadata entry `key` (e.g. a component's config).
    pub fn set_meta(&mut self, key: &str, value: Value) {
        self.meta.insert(key.to_owned(), value);
    }

    /// The `config` that component `name` stored in its metadata entry,
    /// checked by `validate`; any problem is a [`Error::ModelFormat`] naming
    /// the component.
    pub fn component_config<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        validate: impl FnOnce(&T) -> Result<()>,
    ) -> Result<T> {
        let raw = self
            .meta(name)
            .and_then(|m| m.get("config"))
            .ok_or_else(|| Error::format(format!("no {name} component in this model file")))?;
        let config: T = serde_json::from_value(raw.clone())
            .map_err(|e| Error::format(format!("{name} config: {e}")))?;
        validate(&config).map_err(|e| Error::format(format!("{name} config: {e}")))?;
        Ok(config)
    }

    /// Metadata entry `key`.
    pub fn meta(&self, key: &str) -> Option<&Value> {
        self.meta.get(key)
    }

    /// Adds a tensor; the shape must match the number of values.
    pub fn put(&mut self, name: &str, shape: Vec<usize>, data: TensorData) -> Result<()> {
        if shape.iter().product::<usize>() != data.len() {
            return Err(Error::shape(format!(
                "tensor {name}: shape {shape:?} does not hold {} values",
                data.len()
            )));
        }
        self.tensors.insert(name.to_owned(), Tensor { shape, data });
        Ok(())
    }

    /// The tensor `name`, or a format error naming it.
    pub fn tensor(&self, name: &str) -> Result<&Tensor> {
        self.tensors
            .get(name)
            .ok_or_else(|| Error::format(format!("missing tensor {name}")))
    }

    /// Whether tensor `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.tensors.contains_key(name)
    }

    /// An F32 matrix `name` with `cols` columns (when given); returns rows and values.
    pub fn f32_matrix(&self, name: &str, cols: Option<usize>) -> Result<(usize, &[f32])> {
        let t = self.tensor(name)?;
        match (&t.data, t.shape.as_slice()) {
            (TensorData::F32(v), &[r, c]) if cols.is_none_or(|want| want == c) => Ok((r, v)),
            _ => Err(Error::format(format!(
                "tensor {name}: expected F32 [rows, {cols:?}], found shape {:?}",
                t.shape
            ))),
        }
    }

    fn vector<'a, T>(
        &'a self,
        name: &str,
        pick: fn(&'a TensorData) -> Option<&'a Vec<T>>,
    ) -> Result<&'a [T]> {
        let t = self.tensor(name)?;
        match pick(&t.data) {
            Some(v) if t.shape.len() == 1 => Ok(v),
            _ => Err(Error::format(format!(
                "tensor {name}: wrong dtype or rank (shape {:?})",
                t.shape
            ))),
        }
    }

    /// A rank-1 U32 tensor.
    pub fn u32_vector(&self, name: &str) -> Result<&[u32]> {
        self.vector(name, |d| match d {
            TensorData::U32(v) => Some(v),
            _ => None,
        })
    }

    /// A rank-1 U8 tensor.
    pub fn u8_vector(&self, name: &str) -> Result<&[u8]> {
        self.vector(name, |d| match d {
            TensorData::U8(v) => Some(v),
            _ => None,
        })
    }

    /// A rank-1 U64 tensor.
    pub fn u64_vector(&self, name: &str) -> Result<&[u64]> {
        self.vector(name, |d| match d {
            TensorData::U64(v) => Some(v),
            _ => None,
        })
    }

    /// Stores an id map as concatenated UTF-8 plus offsets.
    pub fn put_ids(&mut self, name: &str, ids: &IdMap) -> Result<()> {
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(ids.len() + 1);
        offsets.push(0u64);
        for id in ids.ids() {
            bytes.extend_from_slice(id.as_bytes());
            offsets.push(bytes.len() as u64);
        }
        self.put(name, vec![bytes.len()], TensorData::U8(bytes))?;
        self.put(
            &format!("{name}.offsets"),
            vec![offsets.len()],
            TensorData::U64(offsets),
        )
    }

    /// Reads an id map written by [`put_ids`](Self::put_ids).
    pub fn ids(&self, name: &str) -> Result<IdMap> {
        let bytes = self.u8_vector(name)?;
        let offsets = self.u64_vector(&format!("{name}.offsets"))?;
        let bad = || Error::format(format!("id map {name}: corrupt offsets"));
        if offsets.first() != Some(&0) || offsets.last().copied() != Some(bytes.len() as u64) {
            return Err(bad());
        }
        let mut ids = Vec::with_capacity(offsets.len().saturating_sub(1));
        for w in offsets.windows(2) {
            // Ascending pairs can still overshoot mid-way ([0, 9000, 12]).
            let id = usize::try_from(w[0])
                .ok()
                .zip(usize::try_from(w[1]).ok())
                .and_then(|(a, b)| bytes.get(a..b))
                .ok_or_else(bad)?;
            let s = std::str::from_utf8(id)
                .map_err(|_| Error::format(format!("id map {name}: invalid UTF-8")))?;
            ids.push(s.to_owned());
        }
        IdMap::from_ids(ids).map_err(|e| Error::format(format!("id map {name}: {e}")))
    }

    /// Stores a CSR matrix under `prefix.{indptr,indices,data}`.
    pub fn put_csr(&mut self, prefix: &str, m: &Csr) -> Result<()> {
        let indptr: Vec<u64> = m.indptr().iter().map(|&p| p as u64).collect();
        self.put(
            &format!("{prefix}.indptr"),
            vec![indptr.len()],
            TensorData::U64(indptr),
        )?;
        self.put(
            &format!("{prefix}.indices"),
            vec![m.nnz()],
            TensorData::U32(m.indices().to_vec()),
        )?;
        self.put(
            &format!("{prefix}.data"),
            vec![m.nnz()],
            TensorData::F32(m.data().to_vec()),
        )
    }

    /// Reads a CSR matrix written by [`put_csr`](Self::put_csr), validating it.
    pub fn csr(&self, prefix: &str, n_cols: usize) -> Result<Csr> {
        let indptr = self.u64_vector(&format!("{prefix}.indptr"))?;
        let indices = self.u32_vector(&format!("{prefix}.indices"))?;
        let data = self.vector(&format!("{prefix}.data"), |d| {
            if let TensorData::F32(v) = d {
                Some(v)
            } else {
                None
            }
        })?;
        let indptr: Vec<usize> = indptr
            .iter()
            .map(|&p| usize::try_from(p).unwrap_or(usize::MAX))
            .collect();
        let n_rows = indptr
            .len()
            .checked_sub(1)
            .ok_or_else(|| Error::format(format!("{prefix}: empty indptr")))?;
        Csr::from_parts(n_rows, n_cols, indptr, indices.to_vec(), data.to_vec())
            .map_err(|e| Error::format(format!("{prefix}: {e}")))
    }

    /// Serialises to bytes (the exact bytes [`save`](Self::save) writes).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let meta = Value::Object(self.meta.clone()).to_string();
        let raw: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = self
            .tensors
            .iter()
            .map(|(n, t)| {
                (
                    n.clone(),
                    (t.data.dtype(), t.shape.clone(), t.data.to_le_bytes()),
                )
            })
            .collect();
        let borrowed = raw
            .iter()
            .map(|(n, (d, s, b))| (n.clone(), (*d, s.clone(), b.as_slice())))
            .collect();
        let crc = checksum(&meta, &borrowed);
        // One metadata key: safetensors keeps metadata in a HashMap, whose
        // order would otherwise make the bytes differ from run to run.
        let envelope = serde_json::json!({
            "checksum": format!("crc32:{crc:08x}"),
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "meta": meta,
        });
        let header = HashMap::from([(FORMAT_NAME.to_owned(), envelope.to_string())]);
        let views = raw
            .iter()
            .map(|(n, (d, s, b))| {
                TensorView::new(*d, s.clone(), b)
                    .map(|v| (n.clone(), v))
                    .map_err(|e| Error::format(e.to_string()))
            })
            .collect::<Result<Vec<_>>>()?;
        safetensors::tensor::serialize(views, Some(header))
            .map_err(|e| Error::format(e.to_string()))
    }

    /// Parses and validates bytes: container structure, format name and
    /// version, checksum, then every tensor's dtype and shape.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| {
            Error::format(format!(
                "not a sightline model file (truncated or corrupt): {e}"
            ))
        })?;
        let (_, header) =
            SafeTensors::read_metadata(bytes).map_err(|e| Error::format(e.to_string()))?;
        let not_ours = || {
            Error::format("a safetensors file, but not a sightline model (no sightline metadata)")
        };
        let envelope = header
            .metadata()
            .as_ref()
            .and_then(|m| m.get(FORMAT_NAME))
            .ok_or_else(not_ours)?;
        let md: Map<String, Value> = serde_json::from_str(envelope).map_err(|_| not_ours())?;
        if md.get("format").and_then(Value::as_str) != Some(FORMAT_NAME) {
            return Err(not_ours());
        }
        let version = md
            .get("format_version")
            .and_then(Value::as_u64)
            .ok_or_else(|| Error::format("missing or invalid format_version"))?;
        if version == 0 || version > u64::from(FORMAT_VERSION) {
            return Err(Error::format(format!(
                "model format version {version} is not supported by this build (reads 1..={FORMAT_VERSION})"
            )));
        }
        let meta_str = md
            .get("meta")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::format("missing meta"))?;
        let raw: BTreeMap<String, (Dtype, Vec<usize>, &[u8])> = st
            .iter()
            .map(|(n, v)| (n.to_owned(), (v.dtype(), v.shape().to_vec(), v.data())))
            .collect();
        let want = md
            .get("checksum")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::format("missing checksum"))?;
        let got = format!("crc32:{:08x}", checksum(meta_str, &raw));
        // Fuzz builds (`--cfg fuzzing`, set by cargo-fuzz) skip the check
        // so mutated files reach the component readers behind it.
        if want != got && !cfg!(fuzzing) {
            return Err(Error::format(format!(
                "checksum mismatch (file says {want}, data gives {got}): the file is corrupt"
            )));
        }
        let meta = match serde_json::from_str::<Value>(meta_str) {
            Ok(Value::Object(m)) => m,
            _ => return Err(Error::format("meta is not a JSON object")),
        };
        let mut tensors = BTreeMap::new();
        for (name, (dtype, shape, data)) in raw {
            let data = TensorData::from_le_bytes(dtype, data)?;
            tensors.insert(name, Tensor { shape, data });
        }
        Ok(ModelFile { meta, tensors })
    }

    /// Writes atomically: a uniquely named temporary file in the same
    /// directory (so concurrent saves to one path never share one), synced,
    /// renamed over `path`, then the directory synced (on unix), so after
    /// `save` returns the new file survives a power loss too. A reader, a
    /// crash or a killed process leaves the old file or the new one, never
    /// a mix.
    ///
    /// A process killed mid-save leaves its temporary file
    /// (`.{name}.XXXXXX.tmp`) behind; [`load`](Self::load) never reads
    /// those, and a later `save` to the same path removes the ones older
    /// than [`ORPHAN_AGE`].
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes()?;
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| Error::invalid(format!("not a file path: {}", path.display())))?;
        let prefix = format!(".{}.", name.to_string_lossy());
        write_atomic(dir, &prefix, path, &bytes).map_err(|e| Error::Io(with_path(e, path)))?;
        remove_orphans(dir, &prefix, ORPHAN_AGE);
        Ok(())
    }

    /// Reads and validates the file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        Self::from_bytes(&std::fs::read(path).map_err(|e| Error::Io(with_path(e, path)))?)
    }
}

/// Age after which a temporary file of a save to the same path counts as
/// orphaned (its process was killed or lost power mid-save) and the next
/// save removes it. A live save's temporary file exists only while its
/// bytes are written and synced, seconds even for a large model, so an
/// hour never catches one; and if it did, that save's rename would fail
/// with an I/O error and leave the target as it was, never corrupt it.
pub const ORPHAN_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Length of the random part `tempfile` puts between prefix and suffix.
const TEMP_RANDOM_LEN: usize = 6;

/// Writes `bytes` to a fresh temp file `{prefix}XXXXXX.tmp` in `dir`, syncs
/// it, renames it over `path` and syncs `dir`; the temp file is removed on
/// failure.
#[cfg(not(target_arch = "wasm32"))]
fn write_atomic(dir: &Path, prefix: &str, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut builder = tempfile::Builder::new();
    builder
        .prefix(prefix)
        .suffix(".tmp")
        .rand_bytes(TEMP_RANDOM_LEN);
    // The mode a plain `File::create` gives (0o666 less the umask), not
    // tempfile's private 0o600: a model file is read by other processes.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    sync_dir(dir)
}

/// Syncs the directory entry of a rename: without it the rename may sit in
/// the page cache, and after a power loss the directory can still name the
/// old file (or, on some file systems, an empty one).
#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        // Some file systems cannot sync a directory; the rename is done.
        Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => Ok(()),
        other => other,
    }
}

/// Windows makes a rename durable with the file's own sync.
#[cfg(all(not(unix), not(target_arch = "wasm32")))]
fn sync_dir(_: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Whether `file_name` is a temp file of a save with `prefix`: exactly
/// `{prefix}` + 6 alphanumerics + `.tmp`, so the temp files of another
/// target whose name merely starts the same never match.
fn is_temp_of(file_name: &str, prefix: &str) -> bool {
    file_name
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .is_some_and(|mid| {
            mid.len() == TEMP_RANDOM_LEN && mid.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// Best-effort removal of the temp files of saves with `prefix` in `dir`
/// not modified for `age` (see [`ORPHAN_AGE`]). Failures are ignored: the
/// save itself has succeeded, and an orphan only costs disk space.
#[cfg(not(target_arch = "wasm32"))]
fn remove_orphans(dir: &Path, prefix: &str, age: std::time::Duration) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let now = std::time::SystemTime::now();
    for entry in entries.flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|d| d >= age));
        if stale
            && entry
                .file_name()
                .to_str()
                .is_some_and(|n| is_temp_of(n, prefix))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// wasm32 has no file system: saving to a path is unsupported there.
#[cfg(target_arch = "wasm32")]
fn write_atomic(_: &Path, _: &str, _: &Path, _: &[u8]) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Nothing to clean without a file system.
#[cfg(target_arch = "wasm32")]
fn remove_orphans(_: &Path, _: &str, _: std::time::Duration) {}

/// The same I/O error, with the file it concerns in the message.
fn with_path(e: std::io::Error, path: &Path) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ModelFile {
        let mut f = ModelFile::new();
        f.set_meta("als", serde_json::json!({"factors": 2}));
        f.put("m", vec![2, 2], TensorData::F32(vec![1.0, -2.5, 3.0, 0.0]))
            .unwrap();
        f.put_ids("ids.items", &IdMap::from_ids(["a", "bé", ""]).unwrap())
            .unwrap();
        f.put_csr(
            "x",
            &Csr::from_triplets(2, 3, &[0, 1], &[2, 0], &[1.0, 4.0]).unwrap(),
        )
        .unwrap();
        f
    }

    #[test]
    fn round_trip() {
        let f = sample();
        let bytes = f.to_bytes().unwrap();
        let g = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(f, g);
        assert_eq!(
            g.to_bytes().unwrap(),
            bytes,
            "serialisation is deterministic"
        );
        assert_eq!(g.ids("ids.items").unwrap().ids(), ["a", "bé", ""]);
        assert_eq!(g.csr("x", 3).unwrap().row(1), (&[0u32][..], &[4.0f32][..]));
        assert_eq!(g.f32_matrix("m", Some(2)).unwrap().0, 2);
        assert!(g.f32_matrix("m", Some(3)).is_err());
        assert!(g.tensor("nope").is_err());
    }

    /// A float written with more digits than an f64 holds (as a hand-edited
    /// or foreign file may carry) still writes back to bytes that read to
    /// the same file: metadata numbers parse correctly rounded (the fuzzer
    /// found `1.10000000149011612` drifting by one ulp per round trip).
    #[test]
    fn long_floats_in_meta_round_trip() {
        let mut f = ModelFile::new();
        let v: Value = serde_json::from_str(
            r#"{"a": 1.10000000149011612, "b": 1.1000000014901161, "c": 2.2250738585072011e-308}"#,
        )
        .unwrap();
        f.set_meta("x", v);
        let bytes = f.to_bytes().unwrap();
        let again = ModelFile::from_bytes(&bytes).unwrap();
        assert_eq!(again, f);
        assert_eq!(again.to_bytes().unwrap(), bytes);
    }

    #[test]
    fn rejects_truncated_corrupt_foreign_and_future_files() {
        let bytes = sample().to_bytes().unwrap();
        for cut in [0, 4, 8, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(
                    ModelFile::from_bytes(&bytes[..cut]),
                    Err(Error::ModelFormat(_))
                ),
                "cut {cut}"
            );
        }
        // Flip a bit in the last tensor byte: checksum must catch it.
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 1;
        let err = ModelFile::from_bytes(&bad).unwrap_err().to_string();
        assert!(err.contains("checksum"), "{err}");
        assert!(ModelFile::from_bytes(b"PK\x03\x04 this is a zip file, not a model").is_err());
        // A valid safetensors file without our metadata.
        let t = vec![0u8; 4];
        let foreign = safetensors::tensor::serialize(
            vec![(
                "w".to_string(),
                TensorView::new(Dtype::U8, vec![4], &t).unwrap(),
            )],
            None,
        )
        .unwrap();
        assert!(ModelFile::from_bytes(&foreign)
            .unwrap_err()
            .to_string()
            .contains("not a sightline model"));
        // A newer format version.
        let needle = b"\\\"format_version\\\":1";
        let at = bytes
            .windows(needle.len())
            .position(|w| w == needle)
            .unwrap();
        let mut future = bytes.clone();
        future[at + needle.len() - 1] = b'9';
        let err = ModelFile::from_bytes(&future).unwrap_err().to_string();
        assert!(err.contains("version 9"), "{err}");
    }

    /// Found by the model_file fuzz target: offsets that ascend but
    /// overshoot the bytes before coming back used to panic on a slice.
    #[test]
    fn id_offsets_past_the_bytes_are_a_format_error() {
        let mut f = ModelFile::new();
        f.put("x", vec![3], TensorData::U8(b"abc".to_vec()))
            .unwrap();
        f.put("x.offsets", vec![3], TensorData::U64(vec![0, 9000, 3]))
            .unwrap();
        assert!(matches!(f.ids("x"), Err(Error::ModelFormat(_))));
    }

    #[test]
    fn save_is_atomic_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.slm");
        sample().save(&p).unwrap();
        assert_eq!(ModelFile::load(&p).unwrap(), sample());
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left behind"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let reference = dir.path().join("plain");
            std::fs::File::create(&reference).unwrap();
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode();
            assert_eq!(mode(&p), mode(&reference), "saved with File::create's mode");
            std::fs::remove_file(reference).unwrap();
        }
        let err = ModelFile::load(dir.path().join("missing")).unwrap_err();
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::NotFound),
            "{err}"
        );
        assert!(err.to_string().contains("missing"), "{err}");
        assert!(matches!(
            sample().save(dir.path().join("no/such/dir/m.slm")),
            Err(Error::Io(_))
        ));
    }

    #[test]
    fn save_removes_only_old_orphans_of_its_own_path() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.slm");
        let touch = |name: &str, age_secs: u64| {
            let f = std::fs::File::create(dir.path().join(name)).unwrap();
            let t = std::time::SystemTime::now() - std::time::Duration::from_secs(age_secs);
            f.set_modified(t).unwrap();
        };
        touch(".m.slm.a1B2c3.tmp", 2 * 3600); // an old orphan of m.slm: removed
        touch(".m.slm.Zz9yX8.tmp", 60); // recent: maybe a live save, kept
        touch(".m.slm.x.a1B2c3.tmp", 2 * 3600); // another target's orphan, kept
        touch(".m.slm.a1B2c3.tmp.bak", 2 * 3600); // not a temp name, kept
        touch("other.tmp", 2 * 3600);
        sample().save(&p).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(
            left,
            [
                ".m.slm.Zz9yX8.tmp",
                ".m.slm.a1B2c3.tmp.bak",
                ".m.slm.x.a1B2c3.tmp",
                "m.slm",
                "other.tmp"
            ]
        );
        // A load never looks at temp files, whatever they hold.
        std::fs::write(dir.path().join(".m.slm.Zz9yX8.tmp"), b"garbage").unwrap();
        assert_eq!(ModelFile::load(&p).unwrap(), sample());
        assert!(is_temp_of(".m.slm.abc123.tmp", ".m.slm."));
        assert!(!is_temp_of(".m.slm.abc12.tmp", ".m.slm."));
        assert!(!is_temp_of(".m.slm.abc-23.tmp", ".m.slm."));
        assert!(!is_temp_of("m.slm", ".m.slm."));
    }

    #[test]
    fn concurrent_saves_to_one_path_each_succeed_and_leave_a_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.slm");
        // Different sizes, so a file mixed from two saves fails its checksum.
        let files: Vec<ModelFile> = (1..=8u32)
            .map(|t| {
                let mut f = ModelFile::new();
                f.set_meta("writer", serde_json::json!(t));
                f.put(
                    "v",
                    vec![t as usize * 1000],
                    TensorData::U32(vec![t; t as usize * 1000]),
                )
                .unwrap();
                f
            })
            .collect();
        for _round in 0..5 {
            std::thread::scope(|s| {
                for f in &files {
                    s.spawn(|| f.save(&p).unwrap());
                }
            });
            let got = ModelFile::load(&p).unwrap();
            assert!(files.contains(&got));
            assert_eq!(
                std::fs::read_dir(dir.path()).unwrap().count(),
                1,
                "no temp file left behind"
            );
        }
    }
}
