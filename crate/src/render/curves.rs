//! Training curves (`t2i plot`): the losses of a run's metrics.jsonl (moving averages) and,
//! when the run evaluated itself (`train.eval_every`), the final stage's judge accuracy and
//! R-precision over steps, as one SVG.

use std::collections::BTreeMap;
use std::path::Path;

use plotters::prelude::*;

use crate::error::{Error, Result};

/// Series read from a metrics log: name → (step, value).
#[derive(Debug, Default)]
pub struct Curves {
    pub losses: BTreeMap<String, Vec<(u64, f64)>>,
    pub evals: BTreeMap<String, Vec<(u64, f64)>>,
}

/// Read metrics.jsonl; a line that is not a JSON object with a `step` is an error naming it.
pub fn read_metrics(path: &Path) -> Result<Curves> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let mut c = Curves::default();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let bad = |msg: &str| Error::Other(format!("{}:{}: {msg}", path.display(), n + 1));
        let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
        let step = v.get("step").and_then(|s| s.as_u64()).ok_or_else(|| bad("no step"))?;
        if let Some(eval) = v.get("eval") {
            let Some(last) = eval["stages"].as_array().and_then(|s| s.last()) else { continue };
            for key in ["all_correct", "color", "shape", "background"] {
                if let Some(x) = last["all"][key].as_f64() {
                    c.evals.entry(key.replace('_', " ")).or_default().push((step, x));
                }
            }
            if let Some(x) = last["r_precision"].as_f64() {
                c.evals.entry("R-precision".into()).or_default().push((step, x));
            }
            continue;
        }
        for (k, x) in v.as_object().into_iter().flatten() {
            if (k.starts_with("loss") || k.ends_with("_loss") || k == "g_adv" || k == "kl")
                && let Some(x) = x.as_f64()
            {
                c.losses.entry(k.clone()).or_default().push((step, x));
            }
        }
    }
    if c.losses.is_empty() && c.evals.is_empty() {
        return Err(Error::Other(format!("{}: no losses or evaluations to plot", path.display())));
    }
    Ok(c)
}

/// Trailing moving average over `window` points.
pub fn moving_average(points: &[(u64, f64)], window: usize) -> Vec<(u64, f64)> {
    let w = window.max(1);
    let mut sum = 0.0;
    points
        .iter()
        .enumerate()
        .map(|(i, &(s, v))| {
            sum += v;
            if i >= w {
                sum -= points[i - w].1;
            }
            (s, sum / (i + 1).min(w) as f64)
        })
        .collect()
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Other(format!("plot: {e}"))
}

/// Draw the curves into an SVG file: losses on top, evaluation below (when present).
pub fn plot_svg(c: &Curves, out: &Path, window: usize) -> Result<()> {
    let root = SVGBackend::new(out, (900, if c.evals.is_empty() { 420 } else { 820 })).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let panels = if c.evals.is_empty() { vec![root] } else { root.split_evenly((2, 1)) };
    let max_step = c.losses.values().chain(c.evals.values()).flatten().map(|p| p.0).max().unwrap_or(1).max(1);

    let smoothed: Vec<(String, Vec<(u64, f64)>)> =
        c.losses.iter().map(|(k, v)| (k.clone(), moving_average(v, window))).collect();
    let (lo, hi) = smoothed
        .iter()
        .flat_map(|(_, v)| v.iter().map(|p| p.1))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (lo, hi) = if lo.is_finite() { (lo.min(0.0), hi.max(lo + 1e-6)) } else { (0.0, 1.0) };
    let mut chart = ChartBuilder::on(&panels[0])
        .caption(format!("losses (moving average of {window} steps)"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0u64..max_step, lo..hi * 1.05)
        .map_err(plot_err)?;
    chart.configure_mesh().x_desc("step").draw().map_err(plot_err)?;
    for (i, (name, pts)) in smoothed.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).draw().map_err(plot_err)?;

    if !c.evals.is_empty() {
        let mut chart = ChartBuilder::on(&panels[1])
            .caption("evaluation of the final stage (t2i eval during training)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(48)
            .build_cartesian_2d(0u64..max_step, 0.0f64..1.0)
            .map_err(plot_err)?;
        chart.configure_mesh().x_desc("step").y_desc("share right").draw().map_err(plot_err)?;
        for (i, (name, pts)) in c.evals.iter().enumerate() {
            let color = Palette99::pick(i + 5).to_rgba();
            chart
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(plot_err)?;
    }
    for p in &panels {
        p.present().map_err(plot_err)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_average_is_trailing() {
        let pts: Vec<(u64, f64)> = (1..=5).map(|s| (s, s as f64)).collect();
        let m = moving_average(&pts, 2);
        assert_eq!(m.iter().map(|p| p.1).collect::<Vec<_>>(), vec![1.0, 1.5, 2.5, 3.5, 4.5]);
    }

    #[test]
    fn reads_losses_and_evals_and_draws_svg() {
        let dir = std::env::temp_dir().join(format!("t2i_curves_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("metrics.jsonl");
        let eval = r#"{"step":2,"eval":{"stages":[{"all":{"all_correct":0.1,"color":0.5,"shape":0.3,"background":0.9},"r_precision":0.2}]}}"#;
        std::fs::write(
            &log,
            format!(
                "{{\"step\":1,\"loss_d\":1.5,\"loss_g\":3.0}}\n{{\"step\":2,\"loss_d\":1.0,\"loss_g\":2.0}}\n{eval}\n"
            ),
        )
        .unwrap();
        let c = read_metrics(&log).unwrap();
        assert_eq!(c.losses["loss_d"], vec![(1, 1.5), (2, 1.0)]);
        assert_eq!(c.evals["R-precision"], vec![(2, 0.2)]);
        let svg = dir.join("curves.svg");
        plot_svg(&c, &svg, 10).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline"), "{}", &text[..200.min(text.len())]);
        std::fs::write(&log, "{\"step\":1}\nnot json\n").unwrap();
        assert!(read_metrics(&log).unwrap_err().to_string().contains(":2:"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
