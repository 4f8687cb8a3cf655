//! Exponential moving average of generator weights (AttnGAN's `avg_param_G`:
//! θ̄ ← d·θ̄ + (1 − d)·θ after every generator step). Samples and exports use the average.
//! The decay warms up as min(d, (1 + t)/(10 + t)) at step t (the schedule of TensorFlow's
//! `ExponentialMovingAverage` with `num_updates`): AttnGAN trains for hundreds of thousands
//! of steps, where the plain 0.999 average forgets its random start; in a run of a few
//! hundred steps it would still be mostly the initial weights.
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

    /// Start averaging the model's trainable parameters that the average does not hold yet
    /// (weights added to a resumed model) at their current values.
    pub fn adopt_new<A, M>(&mut self, model: &M)
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
        M::InnerModule: Module<B>,
    {
        let ids: HashSet<ParamId> = trainable(model).into_iter().filter(|id| !self.params.contains_key(id)).collect();
        model.valid().visit(&mut Update { params: &mut self.params, ids: &ids, decay: None });
    }

    /// The decay used after `step` completed steps.
    pub fn decay_at(decay: f64, step: u64) -> f64 {
        decay.min((1.0 + step as f64) / (10.0 + step as f64))
    }

    /// θ̄ ← d·θ̄ + (1 − d)·θ with `d` = [`Ema::decay_at`]`(decay, step)`.
    pub fn update<A, M>(&mut self, model: &M, decay: f64, step: u64)
    where
        A: AutodiffBackend<InnerBackend = B>,
        M: AutodiffModule<A>,
        M::InnerModule: Module<B>,
    {
        let ids: HashSet<ParamId> = self.params.keys().copied().collect();
        let decay = Some(Self::decay_at(decay, step));
        model.valid().visit(&mut Update { params: &mut self.params, ids: &ids, decay });
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{CpuBackend as B, CpuTrainBackend as AD};
    use burn::nn::{Linear, LinearConfig};

    #[test]
    fn warm_up_then_configured_decay() {
        assert!((Ema::<B>::decay_at(0.999, 0) - 0.1).abs() < 1e-12);
        assert!((Ema::<B>::decay_at(0.999, 90) - 0.91).abs() < 1e-12);
        assert_eq!(Ema::<B>::decay_at(0.999, 1_000_000), 0.999);
    }

    #[test]
    fn average_moves_toward_the_live_weights() {
        let dev = Default::default();
        let live: Linear<AD> = LinearConfig::new(3, 2).init(&dev);
        let mut ema = Ema::<B>::new(&live);
        assert_eq!(ema.len(), 2); // weight and bias
        let shifted = live.clone().map(&mut Shift);
        ema.update(&shifted, 0.5, 1_000_000);
        let avg = ema.apply(live.valid());
        let (w0, w1) = (live.weight.val().inner(), avg.weight.val());
        let diff = (w1 - w0).into_data().to_vec::<f32>().unwrap();
        assert!(diff.iter().all(|d| (d - 0.5).abs() < 1e-6), "{diff:?}");
    }

    #[test]
    fn added_weights_join_the_average_and_the_old_averages_stay() {
        let dev = Default::default();
        let mut live: Linear<AD> = LinearConfig::new(3, 2).with_bias(false).init(&dev);
        let mut ema = Ema::<B>::new(&live);
        assert_eq!(ema.len(), 1);
        let before = ema.apply(live.valid()).weight.val();
        live = live.map(&mut Shift);
        live.bias = Some(Param::from_tensor(Tensor::<AD, 1>::ones([2], &dev).require_grad()));
        ema.adopt_new(&live);
        assert_eq!(ema.len(), 2);
        let avg = ema.apply(live.valid());
        // The weight keeps its average (not the shifted live value); the bias starts at its own.
        avg.weight.val().into_data().assert_eq(&before.into_data(), true);
        let bias = avg.bias.expect("bias").val().into_data().to_vec::<f32>().unwrap();
        assert_eq!(bias, vec![1.0, 1.0]);
        ema.adopt_new(&live);
        assert_eq!(ema.len(), 2);
    }

    /// Adds 1 to every parameter, keeping ids.
    struct Shift;
    impl ModuleMapper<AD> for Shift {
        fn map_float<const D: usize>(&mut self, p: Param<Tensor<AD, D>>) -> Param<Tensor<AD, D>> {
            p.map(|t| t.add_scalar(1.0))
        }
    }
}
