//! Reading tensors back to the host. Asynchronous, as WebGPU in the browser requires; on the
//! CPU backends the future completes at once.

use burn::prelude::*;

use crate::error::{Error, Result};

/// The values of `t` as f32, row-major.
pub async fn read<B: Backend, const D: usize>(t: Tensor<B, D>) -> Result<Vec<f32>> {
    let data = t.into_data_async().await.map_err(|e| Error::Other(format!("cannot read tensor: {e:?}")))?;
    data.to_vec::<f32>().map_err(|e| Error::Other(format!("cannot read tensor: {e:?}")))
}
