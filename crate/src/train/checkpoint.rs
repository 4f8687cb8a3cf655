//! Checkpoints: one file holding named sections (module and optimizer records) behind a
//! JSON header with each section's length and CRC-32, so a truncated or corrupt file is
//! reported as such instead of being half-loaded.
//!
//! Layout: `T2ICKPT1` | header length (u32 LE) | header JSON | section bytes…
//! Writes go to a temporary file that is renamed over the old one only when complete, so
//! the last good checkpoint is never overwritten in place.
//!
//! A *portable* checkpoint stores its sections at half precision (the header says so) and
//! leaves the optimiser state out: about a quarter of the size, small enough to keep beside
//! the shipped weights so training can continue on another machine (the optimisers restart).

use std::path::{Path, PathBuf};

use burn::module::Module;
use burn::prelude::*;
use burn::record::{
    FullPrecisionSettings, HalfPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder, RecorderError,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const MAGIC: &[u8; 8] = b"T2ICKPT1";

/// What a checkpoint says about itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Header {
    /// `damsm` or `gan`.
    pub kind: String,
    /// Optimisation steps completed.
    pub step: u64,
    /// The run config (TOML) the checkpoint was made with.
    pub config: String,
    /// Training wall time so far, seconds.
    pub elapsed_s: f64,
    /// Sections stored at half precision (portable checkpoints); absent in older files.
    #[serde(default)]
    pub half: bool,
    pub sections: Vec<SectionInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SectionInfo {
    pub name: String,
    pub len: u64,
    pub crc32: u32,
}

/// A checkpoint being assembled or read.
#[derive(Debug, Default)]
pub struct Checkpoint {
    pub kind: String,
    pub step: u64,
    pub config: String,
    pub elapsed_s: f64,
    /// Sections are (to be) stored at half precision.
    pub half: bool,
    sections: Vec<(String, Vec<u8>)>,
    path: PathBuf,
}

fn encode<B: Backend, R: Record<B>>(half: bool, record: R) -> std::result::Result<Vec<u8>, RecorderError> {
    if half {
        Recorder::<B>::record(&NamedMpkBytesRecorder::<HalfPrecisionSettings>::default(), record, ())
    } else {
        Recorder::<B>::record(&NamedMpkBytesRecorder::<FullPrecisionSettings>::default(), record, ())
    }
}

fn decode<B: Backend, R: Record<B>>(
    half: bool,
    bytes: Vec<u8>,
    device: &B::Device,
) -> std::result::Result<R, RecorderError> {
    if half {
        Recorder::<B>::load(&NamedMpkBytesRecorder::<HalfPrecisionSettings>::default(), bytes, device)
    } else {
        Recorder::<B>::load(&NamedMpkBytesRecorder::<FullPrecisionSettings>::default(), bytes, device)
    }
}

impl Checkpoint {
    pub fn new(kind: &str, step: u64, config: String, elapsed_s: f64) -> Self {
        Self { kind: kind.into(), step, config, elapsed_s, ..Default::default() }
    }

    /// A portable checkpoint: sections added from now on are stored at half precision.
    pub fn portable(mut self) -> Self {
        self.half = true;
        self
    }

    /// The run config the checkpoint was made with (which a resumed run's config.toml may
    /// have changed since, in its `train` options).
    pub fn run_config(&self) -> Result<crate::config::RunConfig> {
        crate::config::RunConfig::from_toml(&self.config, &self.path)
    }

    /// Whether the checkpoint has a section `name`.
    pub fn has(&self, name: &str) -> bool {
        self.sections.iter().any(|(n, _)| n == name)
    }

    /// Add a module's parameters (and buffers) as a section.
    pub fn put_module<B: Backend, M: Module<B>>(&mut self, name: &str, module: &M) -> Result<()> {
        self.put_record::<B, _>(name, module.clone().into_record())
    }

    /// Add any record (e.g. optimizer state) as a section.
    pub fn put_record<B: Backend, R: Record<B>>(&mut self, name: &str, record: R) -> Result<()> {
        let bytes =
            encode::<B, R>(self.half, record).map_err(|e| Error::Other(format!("cannot serialise {name}: {e}")))?;
        self.sections.push((name.to_string(), bytes));
        Ok(())
    }

    fn bytes(&self, name: &str) -> Result<&Vec<u8>> {
        self.sections
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, b)| b)
            .ok_or_else(|| self.err(format!("has no section {name:?}")))
    }

    fn err(&self, msg: impl Into<String>) -> Error {
        Error::Checkpoint { path: self.path.clone(), msg: msg.into() }
    }

    /// Load a section into a record of type R.
    pub fn record<B: Backend, R: Record<B>>(&self, name: &str, device: &B::Device) -> Result<R> {
        let bytes = self.bytes(name)?.clone();
        decode::<B, R>(self.half, bytes, device)
            .map_err(|e| self.err(format!("section {name:?} does not fit the model: {e}")))
    }

    /// Load a section into a module built from the same config.
    pub fn load_module<B: Backend, M: Module<B>>(&self, name: &str, module: M, device: &B::Device) -> Result<M> {
        let record = self.record::<B, M::Record>(name, device)?;
        Ok(module.load_record(record))
    }

    /// Serialise to bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let header = Header {
            kind: self.kind.clone(),
            step: self.step,
            config: self.config.clone(),
            elapsed_s: self.elapsed_s,
            half: self.half,
            sections: self
                .sections
                .iter()
                .map(|(n, b)| SectionInfo { name: n.clone(), len: b.len() as u64, crc32: crc32fast::hash(b) })
                .collect(),
        };
        let head = serde_json::to_vec(&header).map_err(|e| Error::Other(e.to_string()))?;
        let total: usize = self.sections.iter().map(|(_, b)| b.len()).sum();
        let mut out = Vec::with_capacity(12 + head.len() + total);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(head.len() as u32).to_le_bytes());
        out.extend_from_slice(&head);
        for (_, b) in &self.sections {
            out.extend_from_slice(b);
        }
        Ok(out)
    }

    /// Parse bytes, verifying magic, header, lengths and checksums.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Self> {
        let err = |msg: String| Error::Checkpoint { path: path.to_path_buf(), msg };
        if bytes.len() < 12 || &bytes[..8] != MAGIC {
            return Err(err("not a t2i checkpoint (bad magic bytes)".into()));
        }
        let hlen = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        let head = bytes.get(12..12 + hlen).ok_or_else(|| err("truncated header".into()))?;
        let header: Header = serde_json::from_slice(head).map_err(|e| err(format!("corrupt header: {e}")))?;
        let mut offset = 12 + hlen;
        let mut sections = Vec::new();
        for s in &header.sections {
            let end = offset.checked_add(s.len as usize).ok_or_else(|| err("corrupt section length".into()))?;
            let data = bytes.get(offset..end).ok_or_else(|| {
                err(format!("truncated: section {:?} needs {} bytes, file ends early", s.name, s.len))
            })?;
            if crc32fast::hash(data) != s.crc32 {
                return Err(err(format!("section {:?} is corrupt (checksum mismatch)", s.name)));
            }
            sections.push((s.name.clone(), data.to_vec()));
            offset = end;
        }
        if offset != bytes.len() {
            return Err(err(format!("{} unexpected trailing bytes", bytes.len() - offset)));
        }
        Ok(Self {
            kind: header.kind,
            step: header.step,
            config: header.config,
            elapsed_s: header.elapsed_s,
            half: header.half,
            sections,
            path: path.to_path_buf(),
        })
    }

    /// Write atomically: `<path>.tmp`, fsync, rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let bytes = self.to_bytes()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let tmp = path.with_extension("tmp");
        let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&bytes).and_then(|_| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_bytes(&bytes, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_and_truncated_files_are_errors() {
        let mut c = Checkpoint::new("gan", 3, "cfg".into(), 1.0);
        c.sections.push(("a".into(), vec![1, 2, 3, 4]));
        let bytes = c.to_bytes().unwrap();
        let p = Path::new("x.t2i");
        let back = Checkpoint::from_bytes(&bytes, p).unwrap();
        assert_eq!((back.step, back.sections.len()), (3, 1));
        let e = Checkpoint::from_bytes(&bytes[..bytes.len() - 1], p).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
        let mut bad = bytes.clone();
        *bad.last_mut().unwrap() ^= 0xff;
        assert!(Checkpoint::from_bytes(&bad, p).unwrap_err().to_string().contains("corrupt"));
        assert!(Checkpoint::from_bytes(b"PK\x03\x04garbage", p).unwrap_err().to_string().contains("magic"));
    }
}
