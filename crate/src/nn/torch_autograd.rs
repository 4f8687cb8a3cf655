//! LibTorch's own forward and backward kernels for convolution, batch normalisation and leaky
//! ReLU when training on the `tch` backend (`Autodiff<LibTorch>`); every other backend takes
//! burn's generic ops.
//!
//! burn's autodiff differentiates a convolution's weight as a convolution over the batch
//! (burn-backend's default `conv2d_weight_backward`, which burn-tch does not override): 2–3.5×
//! LibTorch's own weight gradient on the layers of our generators. Batch norm written in burn
//! ops takes about ten element-wise kernels each way where LibTorch runs one fused kernel.
//! Here the forward pass records a LibTorch autograd graph (leaves detached from burn's
//! tensors), and burn's backward pass runs that graph with the incoming gradient, so the
//! backward kernels are exactly PyTorch's.
//!
//! Leaky ReLU, composed of a comparison, a select and a multiply each way in burn, runs as
//! LibTorch's fused PReLU kernels.
//!
//! Dispatch is a type check on the backend (`Any`), so model code stays generic over
//! `B: Backend`: on any backend other than `Autodiff<LibTorch<f32>>` the functions here fall
//! through to burn's ops.

#[cfg(feature = "tch")]
use std::any::{Any, TypeId};

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::ConvOptions;

/// A `Conv2d` module applied through [`conv2d`] (LibTorch's kernels when training on `tch`).
pub trait Convolve<B: Backend> {
    fn convolve(&self, x: Tensor<B, 4>) -> Tensor<B, 4>;
}

impl<B: Backend> Convolve<B> for Conv2d<B> {
    fn convolve(&self, x: Tensor<B, 4>) -> Tensor<B, 4> {
        let padding = match self.padding {
            PaddingConfig2d::Valid => [0, 0],
            PaddingConfig2d::Explicit(top, left, bottom, right) if top == bottom && left == right => [top, left],
            _ => return self.forward(x),
        };
        let options = ConvOptions::new(self.stride, padding, self.dilation, self.groups);
        conv2d(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()), options)
    }
}

/// Whether models on backend `B` run convolution, batch norm and leaky ReLU on LibTorch's autograd
/// kernels (true only for `Autodiff<LibTorch<f32>>`, with the `tch` feature).
pub fn uses_torch_kernels<B: Backend>() -> bool {
    #[cfg(feature = "tch")]
    if TypeId::of::<B>() == TypeId::of::<imp::Ad>() {
        return true;
    }
    false
}

/// `x` if `T` is `U` (the same type under another name), otherwise `Err(x)`.
#[cfg(feature = "tch")]
fn cast<T: 'static, U: 'static>(x: T) -> Result<U, T> {
    if TypeId::of::<T>() != TypeId::of::<U>() {
        return Err(x);
    }
    let boxed: Box<dyn Any> = Box::new(x);
    match boxed.downcast::<U>() {
        Ok(u) => Ok(*u),
        Err(_) => unreachable!("equal type ids"),
    }
}

/// `f` on `args` when they are the `tch` training backend's types (`TA`), its result given back
/// as the caller's type; `Err(args)` on every other backend.
#[cfg(feature = "tch")]
fn on_tch<A: 'static, TA: 'static, TR: 'static, R: 'static>(args: A, f: impl FnOnce(TA) -> TR) -> Result<R, A> {
    let args = cast::<A, TA>(args)?;
    Ok(cast(f(args)).unwrap_or_else(|_| unreachable!("the result is on the same backend as the arguments")))
}

/// 2-D convolution: LibTorch's kernels (forward and backward) when training on `tch`,
/// burn's `conv2d` otherwise.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Option<Tensor<B, 1>>,
    options: ConvOptions<2>,
) -> Tensor<B, 4> {
    #[cfg(feature = "tch")]
    let (x, weight, bias) = match on_tch((x, weight, bias), |args| imp::conv2d(args, &options)) {
        Ok(y) => return y,
        Err(args) => args,
    };
    burn::tensor::module::conv2d(x, weight, bias, options)
}

/// Leaky ReLU with slope `slope` below zero: LibTorch's fused kernels (as a PReLU with a
/// constant weight) when training on `tch`, burn's composed ops otherwise.
pub fn leaky_relu<B: Backend, const D: usize>(x: Tensor<B, D>, slope: f64) -> Tensor<B, D> {
    #[cfg(feature = "tch")]
    let x = match on_tch(x, |x| imp::leaky_relu::<D>(x, slope)) {
        Ok(y) => return y,
        Err(x) => x,
    };
    burn::tensor::activation::leaky_relu(x, slope)
}

/// Training-mode batch norm over [B, C, …] with LibTorch's fused kernels, on the `tch`
/// training backend only: `Some((x̂·γ + β, batch mean [C], biased batch variance [C]))`, the
/// statistics without gradient (for the running averages); `None` on every other backend.
pub fn batch_norm_train<B: Backend, const D: usize>(
    x: &Tensor<B, D>,
    gamma: &Tensor<B, 1>,
    beta: &Tensor<B, 1>,
    epsilon: f64,
) -> Option<(Tensor<B, D>, Tensor<B, 1>, Tensor<B, 1>)> {
    #[cfg(feature = "tch")]
    return on_tch((x.clone(), gamma.clone(), beta.clone()), |(x, gamma, beta)| {
        imp::batch_norm::<D>(x, gamma, beta, epsilon)
    })
    .ok();
    #[cfg(not(feature = "tch"))]
    {
        let _ = (x, gamma, beta, epsilon);
        None
    }
}

#[cfg(feature = "tch")]
mod imp {
    use burn::backend::Autodiff;
    use burn::backend::autodiff::checkpoint::base::Checkpointer;
    use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
    use burn::backend::autodiff::grads::Gradients;
    use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
    use burn::backend::libtorch::{LibTorch, TchTensor};
    use burn::prelude::*;
    use burn::tensor::TensorPrimitive;
    use burn::tensor::backend::BackendTypes;
    use burn::tensor::ops::ConvOptions;

    pub type Tch = LibTorch<f32>;
    pub type Ad = Autodiff<Tch>;
    type AdTensor = <Ad as BackendTypes>::FloatTensorPrimitive;
    type Args3 = (Tensor<Ad, 4>, Tensor<Ad, 4>, Option<Tensor<Ad, 1>>);

    /// The LibTorch graph of one op's forward pass: its output and one leaf per burn input
    /// (`None` where that input needs no gradient). `keep` holds burn's handles on the inputs
    /// so burn-tch never reuses their buffers in place while the graph still reads them.
    #[derive(Debug)]
    struct Graph {
        output: tch::Tensor,
        leaves: Vec<Option<tch::Tensor>>,
        keep: Vec<TchTensor>,
    }

    impl Clone for Graph {
        fn clone(&self) -> Self {
            Self {
                output: self.output.shallow_clone(),
                leaves: self.leaves.iter().map(|l| l.as_ref().map(|t| t.shallow_clone())).collect(),
                keep: self.keep.clone(),
            }
        }
    }

    #[derive(Debug)]
    struct TorchOp;

    impl<const N: usize> Backward<Tch, N> for TorchOp {
        type State = Graph;

        fn backward(self, ops: Ops<Graph, N>, grads: &mut Gradients, _: &mut Checkpointer) {
            let grad = grads.consume::<Tch>(&ops.node);
            let Graph { output, leaves, keep } = ops.state;
            let wanted: Vec<(usize, tch::Tensor)> = leaves
                .into_iter()
                .enumerate()
                .filter_map(|(i, l)| l.filter(|_| ops.parents[i].is_some()).map(|l| (i, l)))
                .collect();
            if wanted.is_empty() {
                return;
            }
            // d/d(leaves) of ⟨output, grad⟩ is the vector-Jacobian product with `grad` (a dot
            // product: no temporary of the output's size).
            let seed = output.flatten(0, -1).dot(&grad.tensor.flatten(0, -1));
            let inputs: Vec<&tch::Tensor> = wanted.iter().map(|(_, t)| t).collect();
            let out = tch::Tensor::f_run_backward(&[seed], &inputs, false, false)
                .unwrap_or_else(|e| panic!("LibTorch backward of a recorded op failed: {e}"));
            drop(keep);
            for ((i, _), g) in wanted.iter().zip(out) {
                if let Some(node) = &ops.parents[*i] {
                    grads.register::<Tch>(node.id, TchTensor::new(g));
                }
            }
        }
    }

    /// Run `f` on LibTorch views of `inputs`: recorded as one burn autodiff op when any input
    /// needs a gradient, under `no_grad` otherwise. `f` returns the differentiable output and
    /// any extra outputs, which are handed back as copies without gradient. The output itself
    /// is handed to burn without a copy, so `f` must be an op whose backward does not read its
    /// own output (convolution and batch norm read only their inputs and statistics): burn-tch
    /// may overwrite a tensor it owns alone.
    fn record<const N: usize>(
        inputs: [AdTensor; N],
        f: impl FnOnce(&[tch::Tensor]) -> (tch::Tensor, Vec<tch::Tensor>),
    ) -> (AdTensor, Vec<TchTensor>) {
        let nodes = inputs.clone().map(|t| t.node.clone());
        match TorchOp.prepare::<NoCheckpointing>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let leaves: Vec<tch::Tensor> = inputs
                    .iter()
                    .map(|t| {
                        let leaf = t.primitive.tensor.detach();
                        if t.node.requirement.is_none() { leaf } else { leaf.set_requires_grad(true) }
                    })
                    .collect();
                let (output, extra) = f(&leaves);
                let result = TchTensor::new(output.detach());
                let leaves = inputs.iter().zip(leaves).map(|(t, l)| (!t.node.requirement.is_none()).then_some(l));
                let graph = Graph {
                    output,
                    leaves: leaves.collect(),
                    keep: inputs.iter().map(|t| t.primitive.clone()).collect(),
                };
                let extra = extra.into_iter().map(|t| TchTensor::new(t.detach().copy())).collect();
                (prep.finish(graph, result), extra)
            }
            OpsKind::UnTracked(prep) => {
                let views: Vec<tch::Tensor> = inputs.iter().map(|t| t.primitive.tensor.shallow_clone()).collect();
                let (output, extra) = tch::no_grad(|| f(&views));
                (prep.finish(TchTensor::new(output)), extra.into_iter().map(TchTensor::new).collect())
            }
        }
    }

    fn prim<const D: usize>(t: Tensor<Ad, D>) -> AdTensor {
        t.into_primitive().tensor()
    }

    fn wrap<const D: usize>(t: AdTensor) -> Tensor<Ad, D> {
        Tensor::from_primitive(TensorPrimitive::Float(t))
    }

    fn ints<const N: usize>(v: [usize; N]) -> [i64; N] {
        v.map(|x| x as i64)
    }

    pub fn conv2d((x, weight, bias): Args3, o: &ConvOptions<2>) -> Tensor<Ad, 4> {
        let (stride, padding, dilation, groups) = (ints(o.stride), ints(o.padding), ints(o.dilation), o.groups as i64);
        let run = move |t: &[tch::Tensor]| (t[0].conv2d(&t[1], t.get(2), stride, padding, dilation, groups), vec![]);
        let out = match bias {
            Some(b) => record([prim(x), prim(weight), prim(b)], run).0,
            None => record([prim(x), prim(weight)], run).0,
        };
        wrap(out)
    }

    pub fn leaky_relu<const D: usize>(x: Tensor<Ad, D>, slope: f64) -> Tensor<Ad, D> {
        let weight = tch::Tensor::from_slice(&[slope as f32]);
        wrap(record([prim(x)], move |t| (t[0].prelu(&weight), vec![])).0)
    }

    pub fn batch_norm<const D: usize>(
        x: Tensor<Ad, D>,
        gamma: Tensor<Ad, 1>,
        beta: Tensor<Ad, 1>,
        epsilon: f64,
    ) -> (Tensor<Ad, D>, Tensor<Ad, 1>, Tensor<Ad, 1>) {
        let (out, extra) = record([prim(x), prim(gamma), prim(beta)], |t| {
            let none: Option<&tch::Tensor> = None;
            let (y, mean, invstd) = t[0].native_batch_norm(Some(&t[1]), Some(&t[2]), none, none, true, 0.0, epsilon);
            // invstd = 1/√(var + ε) over the batch (biased variance).
            let var = (invstd.square().reciprocal() - epsilon).clamp_min(0.0);
            (y, vec![mean, var])
        });
        let mut extra =
            extra.into_iter().map(|t| Tensor::<Ad, 1>::from_inner(Tensor::from_primitive(TensorPrimitive::Float(t))));
        let (mean, var) = match (extra.next(), extra.next()) {
            (Some(m), Some(v)) => (m, v),
            _ => unreachable!("native_batch_norm returns mean and variance"),
        };
        (wrap(out), mean, var)
    }
}

/// Run with `cargo test --release --features tch torch_autograd` (LIBTORCH_USE_PYTORCH=1, a
/// pip-installed PyTorch 2.9.0; README, "Faster CPU training").
#[cfg(all(test, feature = "tch"))]
mod tests {
    use burn::backend::Autodiff;
    use burn::backend::libtorch::LibTorch;
    use burn::tensor::Distribution;

    use super::*;
    use crate::nn::batch_norm::BatchNorm;

    type Ad = Autodiff<LibTorch<f32>>;

    fn close(a: Tensor<LibTorch<f32>, 1>, b: Tensor<LibTorch<f32>, 1>, tol: f32, what: &str) {
        let (a, b) = (a.into_data().to_vec::<f32>().unwrap(), b.into_data().to_vec::<f32>().unwrap());
        assert_eq!(a.len(), b.len(), "{what}");
        let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let err = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        assert!(err <= tol * scale, "{what}: max error {err} (scale {scale})");
    }

    fn flat<const D: usize>(t: Tensor<LibTorch<f32>, D>) -> Tensor<LibTorch<f32>, 1> {
        let n = t.shape().num_elements();
        t.reshape([n])
    }

    /// Output and x, weight and bias gradients against burn's own conv2d, for padded 3×3,
    /// strided 4×4 and 1×1 convolutions, with and without bias and an input that needs no
    /// gradient.
    #[test]
    fn convolution_matches_burns_forward_and_gradients() {
        assert!(uses_torch_kernels::<Ad>() && !uses_torch_kernels::<LibTorch<f32>>());
        let dev = Default::default();
        let cases = [
            ([2, 5, 9, 9], [7, 5, 3, 3], [1, 1], [1, 1], true, true),
            ([3, 4, 8, 8], [6, 4, 4, 4], [2, 2], [1, 1], false, true),
            ([2, 6, 5, 5], [3, 6, 1, 1], [1, 1], [0, 0], true, false),
        ];
        for (xs, ws, stride, padding, bias, x_grad) in cases {
            let x0 = Tensor::<LibTorch<f32>, 4>::random(xs, Distribution::Normal(0.0, 1.0), &dev);
            let w0 = Tensor::<LibTorch<f32>, 4>::random(ws, Distribution::Normal(0.0, 0.3), &dev);
            let b0 = Tensor::<LibTorch<f32>, 1>::random([ws[0]], Distribution::Normal(0.0, 1.0), &dev);
            let opts = ConvOptions::new(stride, padding, [1, 1], 1);
            let run = |ours: bool| {
                let x = Tensor::<Ad, 4>::from_inner(x0.clone());
                let x = if x_grad { x.require_grad() } else { x };
                let w = Tensor::<Ad, 4>::from_inner(w0.clone()).require_grad();
                let b = Tensor::<Ad, 1>::from_inner(b0.clone()).require_grad();
                let bias_arg = bias.then(|| b.clone());
                let y = if ours {
                    conv2d(x.clone(), w.clone(), bias_arg, opts.clone())
                } else {
                    burn::tensor::module::conv2d(x.clone(), w.clone(), bias_arg, opts.clone())
                };
                // A non-uniform upstream gradient: d(Σ y²)/dy = 2y.
                let grads = y.clone().powi_scalar(2).sum().backward();
                let gx = x.grad(&grads).map(flat);
                let gb = b.grad(&grads).map(flat);
                (flat(y.inner()), gx, flat(w.grad(&grads).expect("weight gradient")), gb)
            };
            let (ours, reference) = (run(true), run(false));
            close(ours.0, reference.0, 1e-5, "output");
            assert_eq!(ours.1.is_some(), x_grad);
            if let (Some(a), Some(b)) = (ours.1, reference.1) {
                close(a, b, 1e-4, "x gradient");
            }
            close(ours.2, reference.2, 1e-4, "weight gradient");
            assert_eq!(ours.3.is_some(), bias);
            if let (Some(a), Some(b)) = (ours.3, reference.3) {
                close(a, b, 1e-4, "bias gradient");
            }
        }
    }

    #[test]
    fn leaky_relu_matches_burns() {
        let dev = Default::default();
        let x0 = Tensor::<LibTorch<f32>, 4>::random([2, 3, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let run = |ours: bool| {
            let x = Tensor::<Ad, 4>::from_inner(x0.clone()).require_grad();
            let y =
                if ours { leaky_relu(x.clone(), 0.2) } else { burn::tensor::activation::leaky_relu(x.clone(), 0.2) };
            let grads = y.clone().powi_scalar(2).sum().backward();
            (flat(y.inner()), flat(x.grad(&grads).expect("x gradient")))
        };
        let (ours, reference) = (run(true), run(false));
        close(ours.0, reference.0, 1e-6, "output");
        close(ours.1, reference.1, 1e-6, "x gradient");
    }

    /// Without any input that needs a gradient the op runs untracked.
    #[test]
    fn convolution_without_gradients_runs_untracked() {
        let dev = Default::default();
        let x = Tensor::<Ad, 4>::random([1, 2, 4, 4], Distribution::Normal(0.0, 1.0), &dev);
        let w = Tensor::<Ad, 4>::random([3, 2, 3, 3], Distribution::Normal(0.0, 1.0), &dev);
        let opts = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
        let y = conv2d(x.clone(), w.clone(), None, opts.clone());
        assert!(!y.is_require_grad());
        close(flat(y.inner()), flat(burn::tensor::module::conv2d(x, w, None, opts).inner()), 1e-5, "output");
    }

    /// The batch norm layer on `tch` training: output, gradients of x, γ and β, and the running
    /// statistics, against the same formula written in burn ops.
    #[test]
    fn batch_norm_matches_the_formula_and_updates_running_statistics() {
        let dev = Default::default();
        let (b, c, h) = (4, 3, 5);
        let x0 = Tensor::<LibTorch<f32>, 4>::random([b, c, h, h], Distribution::Normal(1.0, 2.0), &dev);
        let g0 = Tensor::<LibTorch<f32>, 1>::random([c], Distribution::Normal(1.0, 0.5), &dev);
        let b0 = Tensor::<LibTorch<f32>, 1>::random([c], Distribution::Normal(0.0, 0.5), &dev);
        let mut bn = BatchNorm::<Ad>::new(c, &dev);
        bn.gamma = burn::module::Param::from_tensor(Tensor::from_inner(g0.clone()));
        bn.beta = burn::module::Param::from_tensor(Tensor::from_inner(b0.clone()));
        let x = Tensor::<Ad, 4>::from_inner(x0.clone()).require_grad();
        let y = bn.forward(x.clone());
        let grads = y.clone().powi_scalar(3).sum().backward();

        let xr = Tensor::<Ad, 4>::from_inner(x0).require_grad();
        let gr = Tensor::<Ad, 1>::from_inner(g0).require_grad();
        let br = Tensor::<Ad, 1>::from_inner(b0).require_grad();
        let per_c = |t: Tensor<Ad, 4>| t.swap_dims(0, 1).reshape([c, b * h * h]).mean_dim(1).reshape([1, c, 1, 1]);
        let mean = per_c(xr.clone());
        let var = per_c((xr.clone() - mean.clone()).powi_scalar(2));
        let yr = (xr.clone() - mean.clone()) / var.clone().add_scalar(1e-5).sqrt() * gr.clone().reshape([1, c, 1, 1])
            + br.clone().reshape([1, c, 1, 1]);
        let gref = yr.clone().powi_scalar(3).sum().backward();

        close(flat(y.inner()), flat(yr.inner()), 1e-4, "output");
        close(flat(x.grad(&grads).unwrap()), flat(xr.grad(&gref).unwrap()), 1e-3, "x gradient");
        close(bn.gamma.val().grad(&grads).unwrap(), gr.grad(&gref).unwrap(), 1e-3, "gamma gradient");
        close(bn.beta.val().grad(&grads).unwrap(), br.grad(&gref).unwrap(), 1e-3, "beta gradient");
        let n = (b * h * h) as f32;
        let want_mean = flat(mean.inner()).mul_scalar(0.1);
        let want_var = flat(var.inner()).mul_scalar(0.1 * n / (n - 1.0)).add_scalar(0.9);
        close(bn.running_mean.value_sync().inner(), want_mean, 1e-4, "running mean");
        close(bn.running_var.value_sync().inner(), want_var, 1e-4, "running variance");
    }
}
