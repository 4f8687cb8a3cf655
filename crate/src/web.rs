//! The browser API (feature `web`, target wasm32): a wasm-bindgen class over
//! [`crate::pipeline::Pipeline`], on WebGPU (burn's wgpu backend, WGSL kernels) or on the
//! CPU (flex). The page hands over the bytes it fetched; nothing is compiled in.
//!
//! Every failure comes back to JavaScript as a rejected promise (or a thrown `Error`) with a
//! message; inputs are validated before any tensor work so that bad input cannot panic.

use std::rc::Rc;

use burn::backend::Flex;
use burn::backend::wgpu::{Wgpu, WgpuDevice, graphics::AutoGraphicsApi, init_setup_async};
use js_sys::{Array, Float32Array, Function, Object, Promise, Reflect, Uint8ClampedArray};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::pipeline::{GenerateOptions, Generation, Pipeline};
use crate::weights::ExportConfig;

/// The two engines one wasm module carries.
enum Engine {
    Cpu(Pipeline<Flex>),
    Gpu(Pipeline<Wgpu>),
}

/// A loaded model on one backend.
#[wasm_bindgen]
pub struct T2i {
    engine: Rc<Engine>,
    backend: String,
    note: String,
    config: ExportConfig,
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

fn set(obj: &Object, key: &str, value: impl Into<JsValue>) {
    // Setting a property on a plain object we created cannot fail.
    let _ = Reflect::set(obj, &JsValue::from_str(key), &value.into());
}

/// Does `navigator.gpu` give an adapter? `Err` carries the reason it does not.
async fn webgpu_adapter() -> Result<(), String> {
    let global = js_sys::global();
    let navigator = Reflect::get(&global, &"navigator".into()).map_err(|_| "no navigator".to_string())?;
    let gpu = Reflect::get(&navigator, &"gpu".into()).unwrap_or(JsValue::UNDEFINED);
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser has no WebGPU (navigator.gpu is missing)".into());
    }
    let request = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
        .ok_or("navigator.gpu.requestAdapter is missing")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise).await.map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("navigator.gpu gave no adapter".into());
    }
    Ok(())
}

#[wasm_bindgen]
impl T2i {
    /// Load a model. `backend` is `"webgpu"`, `"cpu"` or `"auto"` (WebGPU when
    /// `navigator.gpu` gives an adapter, else CPU); `config` and `vocab` are the text of
    /// config.json and vocab.json, `weights` the bytes of model.safetensors.
    pub async fn create(backend: String, config: String, vocab: String, weights: Vec<u8>) -> Result<T2i, JsValue> {
        let cfg = ExportConfig::from_json(&config, "config.json").map_err(js_err)?;
        let (use_gpu, note) = match backend.as_str() {
            "cpu" => (false, "CPU (requested)".to_string()),
            "webgpu" => match webgpu_adapter().await {
                Ok(()) => (true, "WebGPU (requested)".to_string()),
                Err(why) => return Err(js_err(format!("WebGPU requested but unavailable: {why}"))),
            },
            "auto" => match webgpu_adapter().await {
                Ok(()) => (true, "WebGPU (navigator.gpu gave an adapter)".to_string()),
                Err(why) => (false, format!("CPU ({why})")),
            },
            other => return Err(js_err(format!("unknown backend {other:?}: use \"webgpu\", \"cpu\" or \"auto\""))),
        };
        let engine = if use_gpu {
            let device = WgpuDevice::default();
            init_setup_async::<AutoGraphicsApi>(&device, Default::default()).await;
            Engine::Gpu(Pipeline::from_export(&cfg, &vocab, &weights, &device).map_err(js_err)?)
        } else {
            let device = Default::default();
            Engine::Cpu(Pipeline::from_export(&cfg, &vocab, &weights, &device).map_err(js_err)?)
        };
        let backend = if use_gpu { "webgpu" } else { "cpu" }.to_string();
        Ok(T2i { engine: Rc::new(engine), backend, note, config: cfg })
    }

    /// `"webgpu"` or `"cpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.backend.clone()
    }

    /// Why this backend was chosen.
    #[wasm_bindgen(getter, js_name = backendNote)]
    pub fn backend_note(&self) -> String {
        self.note.clone()
    }

    /// The model's config.json as an object (name, model, weights, training).
    #[wasm_bindgen(getter)]
    pub fn config(&self) -> Result<JsValue, JsValue> {
        serde_wasm_bindgen::to_value(&self.config).map_err(js_err)
    }

    /// Sizes in pixels of the images a generation draws, e.g. `[64, 128]` (RAT-GAN: one).
    #[wasm_bindgen(getter)]
    pub fn sizes(&self) -> Vec<u32> {
        self.config.model.gan.output_sizes().into_iter().map(|s| s as u32).collect()
    }

    /// Tokenise without generating: `{tokens, unknownWords, truncated}`; throws for an empty
    /// caption or one with no known word.
    pub fn tokenize(&self, caption: &str) -> Result<JsValue, JsValue> {
        let enc = match &*self.engine {
            Engine::Cpu(p) => p.encode(caption),
            Engine::Gpu(p) => p.encode(caption),
        }
        .map_err(js_err)?;
        let obj = Object::new();
        let tokens: Array = enc.kept.iter().map(|&i| JsValue::from_str(&enc.tokens[i])).collect();
        let unknown: Array = enc.unknown.iter().map(|w| JsValue::from_str(w)).collect();
        set(&obj, "tokens", tokens);
        set(&obj, "unknownWords", unknown);
        set(&obj, "truncated", enc.truncated);
        Ok(obj.into())
    }

    /// Generate every stage for `caption` with noise from `seed` (an integer ≥ 0). Resolves
    /// to `{tokens, unknownWords, truncated, stages: [{size, rgba, ms}], attention: [{size,
    /// maps}], timings: [{label, ms}]}` where `attention[i]` belongs to `stages[i + 1]` and
    /// `maps` is a Float32Array of tokens × size × size. RAT-GAN adds `spatialAttention:
    /// {size, map}` (the discriminator's weights over positions, summing to 1) and `dLogit`. `onStage(partial)`, if given, is
    /// called with the same shape after each stage.
    pub fn generate(&self, caption: String, seed: f64, on_stage: Option<Function>) -> Promise {
        let engine = self.engine.clone();
        future_to_promise(async move {
            if !(seed.is_finite() && seed >= 0.0 && seed <= 9_007_199_254_740_991.0 && seed.fract() == 0.0) {
                return Err(js_err(format!("seed must be a whole number ≥ 0, got {seed}")));
            }
            let opts = GenerateOptions { seed: seed as u64, use_mean: false };
            let mut callback = |_stage: usize, g: &Generation| {
                if let Some(f) = &on_stage {
                    // An exception in the page's callback must not abort generation.
                    let _ = f.call1(&JsValue::NULL, &to_js(g));
                }
            };
            let g = match &*engine {
                Engine::Cpu(p) => p.generate_async(&caption, opts, &mut callback).await,
                Engine::Gpu(p) => p.generate_async(&caption, opts, &mut callback).await,
            }
            .map_err(js_err)?;
            Ok(to_js(&g))
        })
    }
}

/// A generation as a plain JS object with typed arrays.
fn to_js(g: &Generation) -> JsValue {
    let obj = Object::new();
    set(&obj, "tokens", g.tokens.iter().map(|t| JsValue::from_str(t)).collect::<Array>());
    set(&obj, "unknownWords", g.unknown_words.iter().map(|t| JsValue::from_str(t)).collect::<Array>());
    set(&obj, "truncated", g.truncated);
    // Each stage's own time is the timing labelled with its side ("64px", …).
    let stage_ms = |side: u32| g.timings.iter().find(|(l, _)| *l == format!("{side}px")).map_or(0.0, |(_, ms)| *ms);
    let stages = Array::new();
    for img in &g.stages {
        let s = Object::new();
        let rgba: Vec<u8> = img.as_raw().chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect();
        set(&s, "size", img.width());
        set(&s, "rgba", Uint8ClampedArray::from(rgba.as_slice()));
        set(&s, "ms", stage_ms(img.width()));
        stages.push(&s);
    }
    set(&obj, "stages", stages);
    let attention = Array::new();
    for maps in &g.attention {
        let a = Object::new();
        let size = maps.first().map(|m| m.w).unwrap_or(0);
        let flat: Vec<f32> = maps.iter().flat_map(|m| m.data.iter().copied()).collect();
        set(&a, "size", size as u32);
        set(&a, "maps", Float32Array::from(flat.as_slice()));
        attention.push(&a);
    }
    set(&obj, "attention", attention);
    if let Some(m) = &g.spatial_attention {
        let a = Object::new();
        set(&a, "size", m.w as u32);
        set(&a, "map", Float32Array::from(m.data.as_slice()));
        set(&obj, "spatialAttention", a);
    }
    if let Some(l) = g.d_logit {
        set(&obj, "dLogit", l as f64);
    }
    if let Some(view) = &g.layout {
        let a = Object::new();
        let boxes = Array::new();
        for (b, label) in view.boxes.iter().zip(&view.labels) {
            let o = Object::new();
            set(&o, "label", label.as_str());
            set(&o, "class", b.class as u32);
            set(&o, "bbox", b.bbox.iter().map(|v| JsValue::from_f64(*v as f64)).collect::<Array>());
            boxes.push(&o);
        }
        set(&a, "boxes", boxes);
        set(&a, "size", view.masks.first().map_or(0, |m| m.w) as u32);
        let flat: Vec<f32> = view.masks.iter().flat_map(|m| m.data.iter().copied()).collect();
        set(&a, "masks", Float32Array::from(flat.as_slice()));
        set(&obj, "layout", a);
    }
    let timings = Array::new();
    for (label, ms) in &g.timings {
        let t = Object::new();
        set(&t, "label", label.as_str());
        set(&t, "ms", *ms);
        timings.push(&t);
    }
    set(&obj, "timings", timings);
    obj.into()
}

/// Report panics (bugs, never bad input) on the console with their message.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        web_sys_console_error(&format!("t2i panicked: {info}"));
    }));
}

fn web_sys_console_error(msg: &str) {
    let console = Reflect::get(&js_sys::global(), &"console".into()).unwrap_or(JsValue::UNDEFINED);
    if let Some(f) = Reflect::get(&console, &"error".into()).ok().and_then(|f| f.dyn_into::<Function>().ok()) {
        let _ = f.call1(&console, &JsValue::from_str(msg));
    }
}
