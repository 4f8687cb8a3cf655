//! NumPy `.npy` arrays in and out (noise for reproducible sampling, raw stage images and
//! attention maps for comparisons with PyTorch, parity fixtures). A thin layer over `npyz`
//! that speaks f32 and names the file in every error.

use std::io::BufWriter;
use std::path::Path;

use npyz::{DType, TypeChar, WriterBuilder};

use crate::error::{Error, Result};

/// An array read from a `.npy` file: C-order values as f32 and the shape.
#[derive(Clone, Debug, PartialEq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::Other(format!("{}: {}", path.display(), msg.into()))
}

/// Reads a float (f32 or f64) or integer `.npy` array in C order as f32.
pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let file = npyz::NpyFile::new(&bytes[..]).map_err(|e| bad(path, format!("not a .npy file: {e}")))?;
    if file.order() != npyz::Order::C {
        return Err(bad(path, "Fortran-order arrays are not supported; save with np.ascontiguousarray"));
    }
    let shape: Vec<usize> = file.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(ts) = file.dtype() else {
        return Err(bad(path, "structured arrays are not supported; expected a plain float array"));
    };
    let read_err = |e: std::io::Error| bad(path, format!("cannot read values: {e}"));
    let data: Vec<f32> = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => file.into_vec::<f32>().map_err(read_err)?,
        (TypeChar::Float, 8) => file.into_vec::<f64>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(),
        (TypeChar::Int, 4) => file.into_vec::<i32>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(),
        (TypeChar::Int, 8) => file.into_vec::<i64>().map_err(read_err)?.into_iter().map(|v| v as f32).collect(),
        _ => return Err(bad(path, format!("dtype {} is not supported; use float32 or float64", ts))),
    };
    if data.len() != shape.iter().product::<usize>() {
        return Err(bad(path, "value count does not match the shape (truncated file?)"));
    }
    Ok(Array { shape, data })
}

/// Writes f32 values with `shape` (C order) as a `.npy` file.
pub fn write(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    if data.len() != shape.iter().product::<usize>() {
        return Err(bad(path, format!("{} values do not fill shape {shape:?}", data.len())));
    }
    let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let dims: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let io = |e: std::io::Error| Error::io(path, e);
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&dims)
        .writer(BufWriter::new(file))
        .begin_nd()
        .map_err(io)?;
    w.extend(data.iter().copied()).map_err(io)?;
    w.finish().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let dir = std::env::temp_dir().join(format!("t2i-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        let data: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        write(&p, &[2, 3, 4], &data).unwrap();
        let a = read(&p).unwrap();
        assert_eq!(a.shape, vec![2, 3, 4]);
        assert_eq!(a.data, data);
        assert!(write(&p, &[5], &data).is_err());
        let junk = dir.join("junk.npy");
        std::fs::write(&junk, b"not numpy").unwrap();
        let e = read(&junk).unwrap_err().to_string();
        assert!(e.contains("junk.npy") && e.contains("not a .npy"), "{e}");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&junk, &bytes[..bytes.len() - 8]).unwrap();
        assert!(read(&junk).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
