//! Training curves (`t2i plot`): the losses of a run's metrics.jsonl (moving averages) and,
//! when the run evaluated itself (`train.eval_every`), the final stage's judge accuracy and
//! R-precision over steps, as one SVG. With a second run (`--against`) the evaluation panel
//! overlays both, and [`compare_evals`] lines them up step for step.

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

/// The final stage's judge columns that the curves follow.
const EVAL_KEYS: [&str; 6] = ["all_correct", "color", "shape", "position", "relation", "background"];

/// The series measured with the run's own DAMSM encoders, so not comparable across runs.
const OWN_DAMSM: &str = "R-precision";

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
            for key in EVAL_KEYS {
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

/// Draw the curves into an SVG file: losses on top, evaluation below (when present). With
/// `against`, the evaluation panel also draws that run's series, dashed, in the same colours.
pub fn plot_svg(c: &Curves, out: &Path, window: usize, against: Option<&Curves>) -> Result<()> {
    let root = SVGBackend::new(out, (900, if c.evals.is_empty() { 420 } else { 820 })).into_drawing_area();
    root.fill(&WHITE).map_err(plot_err)?;
    let panels = if c.evals.is_empty() { vec![root] } else { root.split_evenly((2, 1)) };
    let other_evals = against.map(|a| a.evals.values()).into_iter().flatten();
    let max_step =
        c.losses.values().chain(c.evals.values()).chain(other_evals).flatten().map(|p| p.0).max().unwrap_or(1).max(1);

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
            if let Some(pts) = against.and_then(|a| a.evals.get(name)).filter(|_| name != OWN_DAMSM) {
                chart
                    .draw_series(DashedLineSeries::new(pts.iter().copied(), 6, 4, color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(format!("{name} (--against, dashed)"))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 6, y)], color.stroke_width(2)));
            }
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

/// One evaluation step that two runs share: per judge column, (this run, the other run).
#[derive(Debug, Clone, PartialEq)]
pub struct SharedStep {
    pub step: u64,
    pub columns: Vec<(String, f64, f64)>,
}

/// The evaluation steps both runs reached, with every column both logged at that step, in
/// step order. Runs that never evaluated at the same step share nothing. R-precision is left
/// out: each run measures it with its own DAMSM encoders.
pub fn compare_evals(a: &Curves, b: &Curves) -> Vec<SharedStep> {
    let mut steps: BTreeMap<u64, Vec<(String, f64, f64)>> = BTreeMap::new();
    for (name, pts) in a.evals.iter().filter(|(name, _)| name.as_str() != OWN_DAMSM) {
        let Some(other) = b.evals.get(name) else { continue };
        for &(step, x) in pts {
            if let Some(&(_, y)) = other.iter().find(|p| p.0 == step) {
                steps.entry(step).or_default().push((name.clone(), x, y));
            }
        }
    }
    steps.into_iter().map(|(step, columns)| SharedStep { step, columns }).collect()
}

/// [`compare_evals`] as a Markdown table: one row per shared step, "this / other" in per cent.
pub fn comparison_table(shared: &[SharedStep]) -> String {
    let Some(first) = shared.first() else { return String::from("(the runs share no evaluation step)\n") };
    let names: Vec<&str> = first.columns.iter().map(|c| c.0.as_str()).collect();
    let mut out = format!("| step | {} |\n|---:|{}\n", names.join(" | "), "---:|".repeat(names.len()));
    for row in shared {
        let cells: Vec<String> = names
            .iter()
            .map(|n| match row.columns.iter().find(|c| c.0 == *n) {
                Some((_, x, y)) => format!("{:.1} / {:.1}", x * 100.0, y * 100.0),
                None => "–".into(),
            })
            .collect();
        out.push_str(&format!("| {} | {} |\n", row.step, cells.join(" | ")));
    }
    out
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
        plot_svg(&c, &svg, 10, None).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.starts_with("<svg") && text.contains("polyline"), "{}", &text[..200.min(text.len())]);
        std::fs::write(&log, "{\"step\":1}\nnot json\n").unwrap();
        assert!(read_metrics(&log).unwrap_err().to_string().contains(":2:"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn compares_two_runs_step_for_step() {
        let curves = |rows: &[(u64, f64, f64)]| {
            let mut c = Curves::default();
            for &(step, color, shape) in rows {
                c.evals.entry("color".into()).or_default().push((step, color));
                c.evals.entry("shape".into()).or_default().push((step, shape));
                c.evals.entry(OWN_DAMSM.into()).or_default().push((step, 0.5));
            }
            c
        };
        let a = curves(&[(500, 0.5, 0.2), (1000, 0.75, 0.25)]);
        let mut b = curves(&[(1000, 0.25, 0.5), (1500, 0.9, 0.9)]);
        b.evals.remove("shape");
        let shared = compare_evals(&a, &b);
        assert_eq!(shared, vec![SharedStep { step: 1000, columns: vec![("color".into(), 0.75, 0.25)] }]);
        let table = comparison_table(&shared);
        assert!(table.contains("| step | color |") && table.contains("| 1000 | 75.0 / 25.0 |"), "{table}");
        assert!(comparison_table(&compare_evals(&a, &Curves::default())).contains("share no"));

        let dir = std::env::temp_dir().join(format!("t2i_compare_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let svg = dir.join("both.svg");
        plot_svg(&a, &svg, 5, Some(&b)).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("color (--against, dashed)"), "the legend names the other run");
        std::fs::remove_dir_all(&dir).ok();
    }
}
