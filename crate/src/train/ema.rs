//! Exponential moving average of generator weights (AttnGAN's `avg_param_G`:
//! θ̄ ← d·θ̄ + (1 − d)·θ after every generator step). Samples and exports use the average.

use std::collections::HashMap;

use burn::module::{ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;

/// Averaged parameters by id; buffers (batch-norm statistics) come from the live model.
#[derive(Clone, Debug)]
pub struct Ema<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

struct Collect<'a, B: Backend>(&'a mut HashMap<ParamId, Tensor<B, 1>>);

impl<B: Backend> ModuleVisitor<B> for Collect<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        self.0.insert(param.id, t.reshape([n]));
    }
}

struct Update<'a, B: Backend> {
    params: &'a mut HashMap<ParamId, Tensor<B, 1>>,
    decay: f64,
}

impl<B: Backend> ModuleVisitor<B> for Update<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        let t = param.val();
        let n = t.shape().num_elements();
        let live = t.reshape([n]);
        let next = match self.params.remove(&param.id) {
            Some(avg) => avg.mul_scalar(self.decay) + live.mul_scalar(1.0 - self.decay),
            None => live,
        };
        self.params.insert(param.id, next);
    }
}

struct Substitute<'a, B: Backend>(&'a HashMap<ParamId, Tensor<B, 1>>);

impl<B: Backend> ModuleMapper<B> for Substitute<'_, B> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<B, D>>) -> Param<Tensor<B, D>> {
        match self.0.get(&param.id) {
            Some(avg) => {
                let avg = avg.clone();
                param.map(|t| avg.reshape(t.shape()))
            }
            None => param,
        }
    }
}

impl<B: Backend> Ema<B> {
    /// Start the average at the model's current weights.
    pub fn new<M: Module<B>>(model: &M) -> Self {
        let mut params = HashMap::new();
        model.visit(&mut Collect(&mut params));
        Self { params }
    }

    /// θ̄ ← d·θ̄ + (1 − d)·θ.
    pub fn update<M: Module<B>>(&mut self, model: &M, decay: f64) {
        model.visit(&mut Update { params: &mut self.params, decay });
    }

    /// The live model with its parameters replaced by the averages.
    pub fn apply<M: Module<B>>(&self, model: M) -> M {
        model.map(&mut Substitute(&self.params))
    }
}
