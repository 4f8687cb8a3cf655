//! Reading the plain Python pickles of AttnGAN's data folders: lists, dicts, ints and
//! strings, as written by Python 2 (protocols 0–2, the official files) or Python 3.
//!
//! Python 2 `str` objects arrive as bytes; [`text`] decodes them as UTF-8, else as Latin-1
//! (one code point per byte), so old pickles holding non-ASCII names still load.

use std::path::Path;

use serde_pickle::{DeOptions, HashableValue, Value};

use crate::error::{Error, Result};

/// Parses the pickle at `path`; `expected` says what it should hold (for the errors).
pub fn load(path: &Path, expected: &str) -> Result<Value> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::data(path, format!("cannot read it ({e}); it should hold {expected}")))?;
    serde_pickle::value_from_slice(&bytes, DeOptions::new())
        .map_err(|e| Error::data(path, format!("not a readable pickle ({e}); expected {expected}")))
}

/// Bytes as UTF-8, else as Latin-1.
pub fn decode_bytes(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => bytes.iter().map(|&b| b as char).collect(),
    }
}

/// A Python `str`/`unicode`/`bytes` value as text.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bytes(b) => Some(decode_bytes(b)),
        _ => None,
    }
}

/// A Python `int` value (small or big, as long as it fits in i64).
pub fn int(v: &Value) -> Option<i64> {
    match v {
        Value::I64(i) => Some(*i),
        Value::Int(b) => i64::try_from(b).ok(),
        _ => None,
    }
}

/// A dict key that is a Python `int`.
pub fn key_int(v: &HashableValue) -> Option<i64> {
    match v {
        HashableValue::I64(i) => Some(*i),
        HashableValue::Int(b) => i64::try_from(b).ok(),
        _ => None,
    }
}

/// The items of a Python `list` or `tuple`.
pub fn items(v: &Value) -> Option<&[Value]> {
    match v {
        Value::List(items) | Value::Tuple(items) => Some(items),
        _ => None,
    }
}

/// A short description of a value's Python type, for errors.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::I64(_) | Value::Int(_) => "int",
        Value::F64(_) => "float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "str",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Set(_) | Value::FrozenSet(_) => "set",
        Value::Dict(_) => "dict",
    }
}

/// Reads a pickled list of strings (e.g. `filenames.pickle`).
pub fn string_list(path: &Path, expected: &str) -> Result<Vec<String>> {
    let value = load(path, expected)?;
    let list = items(&value)
        .ok_or_else(|| Error::data(path, format!("holds a Python {}, expected {expected}", type_name(&value))))?;
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            text(v)
                .ok_or_else(|| Error::data(path, format!("item {i} is a Python {}, expected a string", type_name(v))))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_pickle::SerOptions;

    #[test]
    fn python2_bytes_decode_as_utf8_else_latin1() {
        assert_eq!(decode_bytes("café".as_bytes()), "café");
        assert_eq!(decode_bytes(b"caf\xe9"), "café");
        let v = Value::List(vec![Value::Bytes(b"001.A/B_1".to_vec()), Value::String("x".into())]);
        let path = std::env::temp_dir().join(format!("t2i-pickle-read-{}.pickle", std::process::id()));
        std::fs::write(&path, serde_pickle::value_to_vec(&v, SerOptions::new().proto_v2()).unwrap()).unwrap();
        assert_eq!(string_list(&path, "a list").unwrap(), ["001.A/B_1", "x"]);
        std::fs::write(&path, serde_pickle::value_to_vec(&Value::I64(3), SerOptions::new()).unwrap()).unwrap();
        let e = string_list(&path, "a list of file stems").unwrap_err().to_string();
        assert!(e.contains("holds a Python int") && e.contains(&path.display().to_string()), "{e}");
        std::fs::remove_file(&path).ok();
    }
}
