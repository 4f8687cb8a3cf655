//! Reading a PyTorch `state_dict` saved with `torch.save` (zip format since PyTorch 1.6,
//! or the legacy pickle-stream format of older releases, which the published AttnGAN
//! checkpoints use) into f32 tensors by name. Parsing is burn-store's `PytorchReader`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use burn::store::pytorch::PytorchReader;

use crate::error::{Error, Result};
use crate::weights::NamedTensor;

/// The tensors of one `.pth` file.
#[derive(Clone, Debug)]
pub struct StateDict {
    pub path: PathBuf,
    /// "zip" or "legacy".
    pub format: String,
    /// Float tensors by name, with any `module.` prefix (nn.DataParallel) removed.
    pub tensors: BTreeMap<String, NamedTensor>,
    /// Integer bookkeeping tensors that inference does not use (BatchNorm's `num_batches_tracked`).
    pub skipped: Vec<String>,
}

impl StateDict {
    /// The shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// The shape of `name`, or an error naming the file and the missing key.
    pub fn require(&self, name: &str, what: &str) -> Result<&[usize]> {
        self.shape(name).ok_or_else(|| Error::Weights {
            file: self.path.display().to_string(),
            msg: format!("has no tensor {name:?} ({what}); is this the right checkpoint?"),
        })
    }
}

/// Read every tensor of a `torch.save`d state dict.
pub fn read_state_dict(path: &Path) -> Result<StateDict> {
    let file = path.display().to_string();
    if !path.is_file() {
        return Err(Error::Weights { file, msg: "no such file".into() });
    }
    let reader = PytorchReader::new(path).map_err(|e| Error::Weights {
        file: file.clone(),
        msg: format!("cannot be read as a PyTorch checkpoint (torch.save of a state_dict): {e}"),
    })?;
    let format = if reader.metadata().is_legacy_format() { "legacy" } else { "zip" }.to_string();
    let mut tensors = BTreeMap::new();
    let mut skipped = Vec::new();
    for (raw_name, snap) in reader.into_tensors() {
        let name = strip_wrappers(&raw_name);
        if !snap.dtype.is_float() {
            skipped.push(name);
            continue;
        }
        let data = snap
            .to_data()
            .map_err(|e| Error::Weights { file: file.clone(), msg: format!("tensor {raw_name}: {e:?}") })?;
        let values = data
            .convert::<f32>()
            .to_vec::<f32>()
            .map_err(|e| Error::Weights { file: file.clone(), msg: format!("tensor {raw_name}: {e:?}") })?;
        tensors.insert(name, NamedTensor { shape: snap.shape.to_vec(), values });
    }
    if tensors.is_empty() {
        return Err(Error::Weights { file, msg: "holds no float tensors (not a model state_dict?)".into() });
    }
    skipped.sort();
    Ok(StateDict { path: path.to_path_buf(), format, tensors, skipped })
}

/// `module.` (nn.DataParallel) and a leading `state_dict.` are not part of the module names.
fn strip_wrappers(name: &str) -> String {
    let name = name.strip_prefix("state_dict.").unwrap_or(name);
    name.split('.').filter(|s| *s != "module").collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_are_removed() {
        assert_eq!(strip_wrappers("module.rnn.weight_ih_l0"), "rnn.weight_ih_l0");
        assert_eq!(strip_wrappers("state_dict.h_net1.fc.0.weight"), "h_net1.fc.0.weight");
        assert_eq!(strip_wrappers("img_net1.img.0.weight"), "img_net1.img.0.weight");
    }

    #[test]
    fn missing_and_foreign_files_are_errors() {
        let e = read_state_dict(Path::new("/nonexistent/netG.pth")).unwrap_err().to_string();
        assert!(e.contains("netG.pth") && e.contains("no such file"), "{e}");
        let p = std::env::temp_dir().join(format!("t2i-notorch-{}.pth", std::process::id()));
        std::fs::write(&p, b"this is not a checkpoint").unwrap();
        let e = read_state_dict(&p).unwrap_err().to_string();
        assert!(e.contains("cannot be read as a PyTorch checkpoint"), "{e}");
        std::fs::remove_file(&p).ok();
    }
}
