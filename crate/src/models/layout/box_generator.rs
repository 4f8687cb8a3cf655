//! The box generator (Hong et al. 2018, §3.1): an autoregressive LSTM over the sentence and
//! the boxes drawn so far. Step t factorises the next box as
//! p(l_t) · p(x_t, y_t | l_t) · p(w_t, h_t | l_t, x_t, y_t) (Eq. 2): a categorical over the
//! classes plus an end token, then two bivariate Gaussian mixtures (Eq. 3,
//! `nn/gaussian_mixture.rs`) for the centre and the size. Training minimises the negative
//! log-likelihood λ_l·L_label + λ_b·L_box (Eq. 4; the paper's λ_l = 4, λ_b = 1).

use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use rand::Rng;

use super::boxes::LayoutBox;
use crate::config::LayoutConfig;
use crate::nn::bilstm::LstmDirection;
use crate::nn::gaussian_mixture::{HostMixture, Mixture, head_width};
use crate::nn::recurrent_affine::Mlp;

/// The LSTM cell and its three heads.
#[derive(Module, Debug)]
pub struct BoxGenerator<B: Backend> {
    cell: LstmDirection<B>,
    label: Linear<B>,
    center: Mlp<B>,
    size: Mlp<B>,
    classes: usize,
    mixtures: usize,
}

/// LSTM state between steps.
#[derive(Clone, Debug)]
pub struct BoxState<B: Backend> {
    pub h: Tensor<B, 2>,
    pub c: Tensor<B, 2>,
}

/// Teacher-forcing inputs and targets for a batch of box sequences (host side), L steps:
/// the boxes of each layout, then the end token.
#[derive(Clone, Debug)]
pub struct BoxSequence {
    pub steps: usize,
    /// [N, L, C+1]: one-hot of the previous label (index C: start).
    pub prev_label: Vec<f32>,
    /// [N, L, 4]: previous box (cx, cy, w, h); 0 at the first step.
    pub prev_box: Vec<f32>,
    /// [N, L, C+1]: one-hot of the target label (index C: end); all 0 after the end.
    pub label: Vec<f32>,
    /// [N, L, 4]: target box (cx, cy, w, h); 0 where there is none.
    pub target: Vec<f32>,
    /// [N, L]: 1 where the step has a target box.
    pub box_valid: Vec<f32>,
    pub n: usize,
}

impl BoxSequence {
    /// The sequences of `layouts` (each cut to `max_objects` boxes).
    pub fn new(layouts: &[Vec<LayoutBox>], classes: usize, max_objects: usize) -> Self {
        let n = layouts.len();
        let steps = layouts.iter().map(|b| b.len().min(max_objects)).max().unwrap_or(0) + 1;
        let o = classes + 1;
        let mut s = Self {
            steps,
            prev_label: vec![0.0; n * steps * o],
            prev_box: vec![0.0; n * steps * 4],
            label: vec![0.0; n * steps * o],
            target: vec![0.0; n * steps * 4],
            box_valid: vec![0.0; n * steps],
            n,
        };
        for (i, boxes) in layouts.iter().enumerate() {
            let boxes = &boxes[..boxes.len().min(max_objects)];
            for t in 0..=boxes.len() {
                let at = i * steps + t;
                let prev = if t == 0 { classes } else { boxes[t - 1].class };
                s.prev_label[at * o + prev] = 1.0;
                if t > 0 {
                    s.prev_box[at * 4..at * 4 + 4].copy_from_slice(&boxes[t - 1].center_size());
                }
                match boxes.get(t) {
                    Some(b) => {
                        s.label[at * o + b.class] = 1.0;
                        s.target[at * 4..at * 4 + 4].copy_from_slice(&b.center_size());
                        s.box_valid[at] = 1.0;
                    }
                    None => s.label[at * o + classes] = 1.0,
                }
            }
        }
        s
    }
}

/// The two terms of the box NLL, each averaged over the steps that have them.
#[derive(Clone, Debug)]
pub struct BoxLoss<B: Backend> {
    /// −log p(l_t) per label step (boxes and the end token).
    pub label: Tensor<B, 1>,
    /// −log p(x, y | l) − log p(w, h | l, x, y) per box.
    pub boxes: Tensor<B, 1>,
}

impl<B: Backend> BoxGenerator<B> {
    /// `sentence_dim`: width of the sentence vector.
    pub fn new(cfg: &LayoutConfig, sentence_dim: usize, device: &B::Device) -> Self {
        let (c, k, h) = (cfg.classes.len(), cfg.mixtures, cfg.box_hidden);
        let o = c + 1;
        Self {
            cell: LstmDirection::new(sentence_dim + o + 4, h, device),
            label: LinearConfig::new(h, o).init(device),
            center: Mlp::new(h + o, h, head_width(k), false, device),
            size: Mlp::new(h + o + 2, h, head_width(k), false, device),
            classes: c,
            mixtures: k,
        }
    }

    pub fn start(&self, n: usize, device: &B::Device) -> BoxState<B> {
        let hd = self.cell.hidden_dim;
        BoxState { h: Tensor::zeros([n, hd], device), c: Tensor::zeros([n, hd], device) }
    }

    /// One LSTM step on [sentence ‖ previous label one-hot ‖ previous box] → (state, label
    /// logits [N, C+1]).
    pub fn step(
        &self,
        sentence: Tensor<B, 2>,
        prev_label: Tensor<B, 2>,
        prev_box: Tensor<B, 2>,
        state: BoxState<B>,
    ) -> (BoxState<B>, Tensor<B, 2>) {
        let x = Tensor::cat(vec![sentence, prev_label, prev_box], 1);
        let (h, c) = self.cell.step(x, state.h, state.c);
        let logits = self.label.forward(h.clone());
        (BoxState { h, c }, logits)
    }

    /// Raw mixture head over the centre given the label one-hot [N, C+1]: [N, 6K].
    pub fn center_head(&self, h: Tensor<B, 2>, label: Tensor<B, 2>) -> Tensor<B, 2> {
        self.center.forward(Tensor::cat(vec![h, label], 1))
    }

    /// Raw mixture head over the size given the label and the centre [N, 2]: [N, 6K].
    pub fn size_head(&self, h: Tensor<B, 2>, label: Tensor<B, 2>, center: Tensor<B, 2>) -> Tensor<B, 2> {
        self.size.forward(Tensor::cat(vec![h, label, center], 1))
    }

    pub fn classes(&self) -> usize {
        self.classes
    }
    pub fn mixtures(&self) -> usize {
        self.mixtures
    }

    /// Teacher-forced negative log-likelihood of a batch of sequences.
    pub fn nll(&self, sentence: Tensor<B, 2>, seq: &BoxSequence) -> BoxLoss<B> {
        let dev = sentence.device();
        let (n, l, o) = (seq.n, seq.steps, self.classes + 1);
        let t3 = |v: &[f32], w: usize| Tensor::<B, 3>::from_data(TensorData::new(v.to_vec(), [n, l, w]), &dev);
        let prev_label = t3(&seq.prev_label, o);
        let prev_box = t3(&seq.prev_box, 4);
        let label = t3(&seq.label, o);
        let target = t3(&seq.target, 4);
        let valid = Tensor::<B, 2>::from_data(TensorData::new(seq.box_valid.clone(), [n, l]), &dev);
        let mut state = self.start(n, &dev);
        let (mut label_terms, mut box_terms) = (Vec::with_capacity(l), Vec::with_capacity(l));
        let step_of = |t: Tensor<B, 3>, s: usize, w: usize| t.narrow(1, s, 1).reshape([n, w]);
        for s in 0..l {
            let lab = step_of(label.clone(), s, o);
            let (next, logits) =
                self.step(sentence.clone(), step_of(prev_label.clone(), s, o), step_of(prev_box.clone(), s, 4), state);
            state = next;
            // −log p(l) where the step has a label (the one-hot is all 0 after the end).
            label_terms.push((log_softmax(logits, 1) * lab.clone()).sum_dim(1).neg().reshape([n]));
            let tgt = step_of(target.clone(), s, 4);
            let center = tgt.clone().narrow(1, 0, 2);
            let size = tgt.narrow(1, 2, 2);
            let k = self.mixtures;
            let ll_c =
                Mixture::from_raw(self.center_head(state.h.clone(), lab.clone()), k).log_likelihood(center.clone());
            let ll_s = Mixture::from_raw(self.size_head(state.h.clone(), lab, center), k).log_likelihood(size);
            box_terms.push((ll_c + ll_s).neg() * valid.clone().narrow(1, s, 1).reshape([n]));
        }
        let label_steps = seq.label.iter().sum::<f32>().max(1.0);
        let boxes = seq.box_valid.iter().sum::<f32>().max(1.0);
        BoxLoss {
            label: Tensor::cat(label_terms, 0).sum().div_scalar(label_steps),
            boxes: Tensor::cat(box_terms, 0).sum().div_scalar(boxes),
        }
    }

    /// Draw a layout per sentence: label, centre and size per step from `rngs[i]`, until the
    /// end token or `max_objects` boxes. The first step never ends (a caption names at least
    /// one object). `read` brings a tensor to the host (asynchronously in the browser).
    pub async fn sample<R, F, Fut>(
        &self,
        sentence: Tensor<B, 2>,
        max_objects: usize,
        rngs: &mut [R],
        read: F,
    ) -> crate::error::Result<Vec<Vec<LayoutBox>>>
    where
        R: Rng,
        F: Fn(Tensor<B, 2>) -> Fut,
        Fut: std::future::Future<Output = crate::error::Result<Vec<f32>>>,
    {
        let dev = sentence.device();
        let [n, _] = sentence.dims();
        let (c, o, k) = (self.classes, self.classes + 1, self.mixtures);
        let mut layouts: Vec<Vec<LayoutBox>> = vec![Vec::new(); n];
        let mut done = vec![false; n];
        let mut prev_label = vec![0.0f32; n * o];
        for i in 0..n {
            prev_label[i * o + c] = 1.0;
        }
        let mut prev_box = vec![0.0f32; n * 4];
        let mut state = self.start(n, &dev);
        let t2 = |v: &[f32], w: usize| Tensor::<B, 2>::from_data(TensorData::new(v.to_vec(), [n, w]), &dev);
        for t in 0..max_objects {
            let (next, logits) = self.step(sentence.clone(), t2(&prev_label, o), t2(&prev_box, 4), state);
            state = next;
            let logits = read(logits).await?;
            let mut label = vec![0.0f32; n * o];
            for i in 0..n {
                if done[i] {
                    continue;
                }
                let row = &logits[i * o..(i + 1) * o];
                let choices = if t == 0 { c } else { o };
                let pick = sample_categorical(&row[..choices], &mut rngs[i]);
                if pick == c {
                    done[i] = true;
                } else {
                    label[i * o + pick] = 1.0;
                }
            }
            if done.iter().all(|d| *d) {
                break;
            }
            let label_t = t2(&label, o);
            let center_raw = read(self.center_head(state.h.clone(), label_t.clone())).await?;
            let mut center = vec![0.0f32; n * 2];
            for i in (0..n).filter(|&i| !done[i]) {
                let p = HostMixture::from_raw(&center_raw[i * 6 * k..(i + 1) * 6 * k], k).sample(&mut rngs[i]);
                center[i * 2..i * 2 + 2].copy_from_slice(&p);
            }
            let size_raw = read(self.size_head(state.h.clone(), label_t, t2(&center, 2))).await?;
            for i in (0..n).filter(|&i| !done[i]) {
                let wh = HostMixture::from_raw(&size_raw[i * 6 * k..(i + 1) * 6 * k], k).sample(&mut rngs[i]);
                let class = (0..c).find(|&j| label[i * o + j] == 1.0).unwrap_or(0);
                let b = LayoutBox::from_center(class, [center[2 * i], center[2 * i + 1]], wh);
                layouts[i].push(b);
                prev_label[i * o..(i + 1) * o].fill(0.0);
                prev_label[i * o + class] = 1.0;
                prev_box[i * 4..i * 4 + 4].copy_from_slice(&b.center_size());
            }
        }
        Ok(layouts)
    }
}

/// Index drawn from softmax(logits).
fn sample_categorical(logits: &[f32], rng: &mut impl Rng) -> usize {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = logits.iter().map(|l| (l - m).exp()).collect();
    let total: f32 = e.iter().sum();
    let mut u = rng.random::<f32>() * total;
    for (i, v) in e.iter().enumerate() {
        if u < *v {
            return i;
        }
        u -= v;
    }
    e.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::module::Param;
    use burn::tensor::Distribution;
    use rand::SeedableRng;

    use crate::config::RunConfig;

    type B = crate::CpuBackend;

    fn cfg() -> LayoutConfig {
        RunConfig::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/tiny-layout.toml"))
            .expect("tiny-layout config")
            .model
            .layout
            .expect("layout section")
    }

    fn read_now(t: Tensor<B, 2>) -> impl std::future::Future<Output = crate::error::Result<Vec<f32>>> {
        std::future::ready(Ok(t.into_data().to_vec::<f32>().unwrap()))
    }

    /// A generator whose label head always prefers `favourite` by a wide margin.
    fn biased(cfg: &LayoutConfig, favourite: usize, dev: &burn::tensor::Device<B>) -> BoxGenerator<B> {
        let mut g = BoxGenerator::<B>::new(cfg, 8, dev);
        let o = cfg.outcomes();
        let mut bias = vec![-30.0f32; o];
        bias[favourite] = 30.0;
        g.label.weight = Param::from_tensor(Tensor::zeros([cfg.box_hidden, o], dev));
        g.label.bias = Some(Param::from_tensor(Tensor::from_data(TensorData::new(bias, [o]), dev)));
        g
    }

    #[test]
    fn sampling_stops_at_the_end_token_and_the_object_limit() {
        let cfg = cfg();
        let dev = Default::default();
        let s = Tensor::<B, 2>::random([3, 8], Distribution::Normal(0.0, 1.0), &dev);
        let mut rngs: Vec<_> = (0..3).map(rand_chacha::ChaCha8Rng::seed_from_u64).collect();
        // End preferred: the first step cannot end, the second does → one box each.
        let ender = biased(&cfg, cfg.end_token(), &dev);
        let out =
            futures_lite::future::block_on(ender.sample(s.clone(), cfg.max_objects, &mut rngs, read_now)).unwrap();
        assert!(out.iter().all(|l| l.len() == 1), "{out:?}");
        // End never chosen → exactly max_objects boxes, of the favoured class, inside the canvas.
        let never = biased(&cfg, 1, &dev);
        let out = futures_lite::future::block_on(never.sample(s, cfg.max_objects, &mut rngs, read_now)).unwrap();
        for l in &out {
            assert_eq!(l.len(), cfg.max_objects);
            assert!(l.iter().all(|b| b.class == 1 && b.bbox.iter().all(|v| (0.0..=1.0).contains(v))));
        }
    }

    #[test]
    fn sequences_put_the_end_token_after_the_boxes() {
        let b = |class| LayoutBox { class, bbox: [0.1, 0.2, 0.3, 0.6] };
        let seq = BoxSequence::new(&[vec![b(2), b(0)], vec![b(1)]], 4, 4);
        assert_eq!(seq.steps, 3);
        let o = 5;
        let label = |i: usize, t: usize| seq.label[(i * 3 + t) * o..(i * 3 + t + 1) * o].to_vec();
        assert_eq!(label(0, 0), vec![0.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(label(0, 2), vec![0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(label(1, 1), vec![0.0, 0.0, 0.0, 0.0, 1.0]);
        assert_eq!(label(1, 2), vec![0.0; 5]);
        assert_eq!(seq.box_valid, vec![1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        for (got, want) in seq.prev_box[4..8].iter().zip([0.2, 0.4, 0.2, 0.4]) {
            assert!((got - want).abs() < 1e-6, "{:?}", &seq.prev_box[4..8]);
        }
        assert_eq!(seq.prev_label[(3 + 1) * o + 1], 1.0);
    }

    #[test]
    fn nll_is_finite_and_reaches_every_parameter() {
        type AD = crate::CpuTrainBackend;
        let cfg = cfg();
        let dev = Default::default();
        let g = BoxGenerator::<AD>::new(&cfg, 8, &dev);
        let b = |class, x: f32| LayoutBox { class, bbox: [x, 0.3, x + 0.2, 0.5] };
        let seq = BoxSequence::new(&[vec![b(0, 0.1), b(3, 0.6)], vec![b(2, 0.4)]], cfg.classes.len(), cfg.max_objects);
        let s = Tensor::<AD, 2>::random([2, 8], Distribution::Normal(0.0, 1.0), &dev);
        let loss = g.nll(s, &seq);
        let total = loss.label.clone().mul_scalar(cfg.lambda_label) + loss.boxes.clone().mul_scalar(cfg.lambda_box);
        assert!(total.clone().into_scalar().is_finite());
        let grads = total.backward();
        let (count, missing) = crate::nn::params_without_grad(&g, &grads);
        assert!(count > 0 && missing.is_empty(), "{missing:?} of {count}");
    }
}
