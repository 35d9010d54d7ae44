//! Loading configs given as text or files, for every config type and every
//! binding: JSON or TOML text (sniffed), a `.json`/`.toml` file, or a value
//! that a binding already converted (a Python dict, a JS object).
//!
//! Text that starts with `{` (after whitespace) is JSON, anything else TOML;
//! a file is read by its extension (`.toml` TOML, `.json` JSON, else sniffed).
//! Both parse into one [`serde_json::Value`], so a config type deserialises
//! the same tree whatever the source was: one snake_case schema everywhere.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Error, Result};

/// Parses config text: JSON when it starts with `{`, TOML otherwise.
pub fn parse_text(text: &str) -> Result<Value> {
    if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| Error::config("<json>", e.to_string()))
    } else {
        toml::from_str(text).map_err(|e| Error::config("<toml>", e.to_string()))
    }
}

/// Reads a config file: TOML for `.toml`, JSON for `.json`, other
/// extensions by their first character (as [`parse_text`]).
pub fn read_file(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path)?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if ext.eq_ignore_ascii_case("toml") {
        toml::from_str(&text).map_err(|e| Error::config("<toml>", e.to_string()))
    } else if ext.eq_ignore_ascii_case("json") {
        serde_json::from_str(&text).map_err(|e| Error::config("<json>", e.to_string()))
    } else {
        parse_text(&text)
    }
}

/// A string that is either the path of an existing file or config text
/// (the one argument a binding offers for "a path or JSON/TOML text").
pub fn text_or_path(source: &str) -> Result<Value> {
    let path = Path::new(source);
    // Config text (JSON, multi-line TOML) is never an existing file name.
    if !source.contains('\n') && !source.trim_start().starts_with('{') && path.is_file() {
        read_file(path)
    } else {
        parse_text(source)
    }
}

/// Deserialises a config tree into `T`; an error names the dotted path of
/// the field that failed (`hnsw.m`, `<root>` for the top level).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Error::config(
            if path == "." { "<root>".into() } else { path },
            e.inner().to_string(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Inner {
        m: usize,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        name: String,
        inner: Inner,
    }

    #[test]
    fn json_and_toml_text_give_the_same_tree() {
        let json = parse_text(r#"  {"name": "a", "inner": {"m": 3}}"#).unwrap();
        let toml = parse_text("name = \"a\"\n[inner]\nm = 3\n").unwrap();
        assert_eq!(json, toml);
        let s: Sample = from_value(json).unwrap();
        assert_eq!(s.inner.m, 3);
    }

    #[test]
    fn files_are_read_by_extension_and_text_is_not_a_path() {
        let dir = std::env::temp_dir().join(format!("sightline-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let toml = dir.join("c.toml");
        std::fs::write(&toml, "name = \"t\"\n[inner]\nm = 1\n").unwrap();
        let json = dir.join("c.json");
        std::fs::write(&json, r#"{"name": "j", "inner": {"m": 2}}"#).unwrap();
        let t: Sample = from_value(text_or_path(toml.to_str().unwrap()).unwrap()).unwrap();
        let j: Sample = from_value(read_file(&json).unwrap()).unwrap();
        assert_eq!((t.name.as_str(), j.inner.m), ("t", 2));
        assert!(matches!(
            read_file(&dir.join("missing.toml")),
            Err(Error::Io(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn errors_name_the_format_or_the_field() {
        let e = parse_text("{not json").unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "<json>"),
            "{e}"
        );
        let e = parse_text("name = = 1").unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "<toml>"),
            "{e}"
        );
        let e = from_value::<Sample>(parse_text("name = \"a\"\n[inner]\nm = -1\n").unwrap())
            .unwrap_err();
        assert!(
            matches!(e, Error::Config { ref field, .. } if field == "inner.m"),
            "{e}"
        );
    }
}
