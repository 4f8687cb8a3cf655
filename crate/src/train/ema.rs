//! Exponential moving average of generator weights (AttnGAN's `avg_param_G`:
//! θ̄ ← d·θ̄ + (1 − d)·θ after every generator step). Samples and exports use the average.
//! Only trainable parameters are averaged; buffers (batch-norm running statistics) are
//! taken from the live model, as the official code does.

use std::collections::{HashMap, HashSet};

use burn::module::{AutodiffModule, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;

/// Averaged parameters by id, on the inference backend.
#[derive(Clone, Debug)]
pub struct Ema<B: Backend> {
    params: HashMap<ParamId, Tensor<B, 1>>,
}

/// Ids of the parameters that require gradients.
struct Trainable(HashSet<ParamId>);

impl<B: AutodiffBackend> ModuleVisitor<B> for Trainable {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if param.val().is_require_grad() {
            self.0.insert(param.id);
        }
    }
}

/// Blend (or copy, when absent) the listed parameters into the map.
struct Update<'a, B: Backend> {
    params: &'a mut HashMap<ParamId, Tensor<B, 1>>,
    ids: &'a HashSet<ParamId>,
    decay: Option<f64>,
}

impl<B: Backend> ModuleVisitor<B> for Update<'_, B> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        if !self.ids.contains(&param.id) {
            return;
        }
        let t = param.val();
        let n = t.shape().num_elements();
        let live = t.reshape([n]);
        let next = match (self.params.remove(&param.id), self.decay) {
            (Some(avg), Some(d)) => avg.mul_scalar(d) + live.mul_scalar(1.0 - d),
            _ => live,
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

fn trainable<A: AutodiffBackend, M: AutodiffModule<A>>(model: &M) -> HashSet<ParamId> {
    let mut ids = Trainable(HashSet::new());
    model.visit(&mut ids);
    ids.0
}

impl<B: Backend> Ema<B> {
    /// Start the average at the model's current weights.
    pub fn new<A, M>(model: &M) -> Self
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
        M::InnerModule: Module<B>,
    {
        Self::resume(model, &model.valid())
    }

    /// Continue an average saved as a module (`averaged`, same parameter ids as `model`).
    pub fn resume<A, M>(model: &M, averaged: &M::InnerModule) -> Self
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
        M::InnerModule: Module<B>,
    {
        let ids = trainable(model);
        let mut params = HashMap::new();
        averaged.visit(&mut Update { params: &mut params, ids: &ids, decay: None });
        Self { params }
    }

    /// θ̄ ← d·θ̄ + (1 − d)·θ.
    pub fn update<A, M>(&mut self, model: &M, decay: f64)
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
        M::InnerModule: Module<B>,
    {
        let ids: HashSet<ParamId> = self.params.keys().copied().collect();
        model.valid().visit(&mut Update { params: &mut self.params, ids: &ids, decay: Some(decay) });
    }

    /// The live model with its parameters replaced by the averages.
    pub fn apply<M: Module<B>>(&self, model: M) -> M {
        model.map(&mut Substitute(&self.params))
    }

    /// Number of averaged parameter tensors.
    pub fn len(&self) -> usize {
        self.params.len()
    }
    pub fn is_empty(&self) -> bool {
        self.params.is_empty()
    }
}
