//! The scaling runs' plots: per sweep, tasks/s and client CPU µs/task against the swept value
//! (log x, medians joined, min–max as bars: `scaling-concurrency.svg`,
//! `scaling-task-types.svg`, `scaling-payload.svg`), and the soak's RSS over time
//! (`soak-rss.svg`). Lines are drawn as paths: the harness's plotters has no series features.

use std::path::Path;

use plotters::prelude::*;

use crate::plot::PlotError;
use crate::report::{Spread, Summary};
use crate::scaling::{SoakResult, SweepResult, bytes_label};

const LINE: RGBColor = RGBColor(31, 119, 180);

/// The file a sweep's plot goes to.
pub fn sweep_file(sweep: &str) -> String {
    format!("scaling-{}.svg", sweep.replace('_', "-"))
}

/// Draws `sweep`: tasks/s above, client CPU µs/task below, both against its x (log scale).
pub fn draw_sweep(path: &Path, sweep: &SweepResult) -> Result<(), PlotError> {
    let fail = |reason: String| PlotError::new(path, reason);
    let root = SVGBackend::new(path, (900, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (top, bottom) = root.split_vertically(450);
    let payload = sweep.name == "payload";
    panel(
        &top,
        &format!("completed tasks per second against {}", sweep.axis),
        sweep,
        payload,
        |s| (s.tasks_per_s, s.tasks_per_s_range),
    )
    .map_err(fail)?;
    panel(
        &bottom,
        "client CPU per task, µs, whole process tree (lower is better)",
        sweep,
        payload,
        |s| (s.client_cpu_us_per_task, s.client_cpu_us_per_task_range),
    )
    .map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))
}

type Figure = fn(&Summary) -> (Option<f64>, Option<Spread>);

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    sweep: &SweepResult,
    payload: bool,
    figure: Figure,
) -> Result<(), String> {
    // (x, median, min, max) of the points with a figure.
    let points: Vec<(f64, f64, f64, f64)> = sweep
        .points
        .iter()
        .filter_map(|p| {
            let (median, range) = figure(&p.summary);
            let median = median.filter(|v| v.is_finite() && *v > 0.0)?;
            let (min, max) = range.map_or((median, median), |r| (r.min, r.max));
            Some((p.x, median, min, max))
        })
        .collect();
    let xs = sweep.points.iter().map(|p| p.x).filter(|x| *x > 0.0);
    let x_min = xs.clone().fold(f64::INFINITY, f64::min);
    let x_max = xs.fold(0.0, f64::max);
    let (x_min, x_max) = if x_min.is_finite() && x_max > 0.0 {
        (x_min / 1.5, x_max * 1.5)
    } else {
        (0.5, 2.0)
    };
    let y_max = points.iter().map(|p| p.3).fold(0.0, f64::max);
    let y_max = if y_max > 0.0 { y_max * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 17))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((x_min..x_max).log_scale(), 0.0..y_max)
        .map_err(|e| e.to_string())?;
    let x_label = |x: &f64| {
        if payload {
            bytes_label(x.round() as usize)
        } else {
            format!("{x:.0}")
        }
    };
    chart
        .configure_mesh()
        .x_desc(sweep.axis.clone())
        .x_label_formatter(&x_label)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            points
                .iter()
                .map(|&(x, median, _, _)| (x, median))
                .collect::<Vec<_>>(),
            LINE.stroke_width(2),
        )))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(
            points
                .iter()
                .map(|&(x, _, min, max)| PathElement::new(vec![(x, min), (x, max)], LINE)),
        )
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(points.iter().map(|&(x, median, _, _)| {
            let label = if median >= 100.0 {
                format!("{median:.0}")
            } else {
                format!("{median:.1}")
            };
            Text::new(label, (x * 1.05, median), ("sans-serif", 12))
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Draws the soak's RSS (MiB) against seconds into the window.
pub fn draw_soak(path: &Path, soak: &SoakResult) -> Result<(), PlotError> {
    let fail = |reason: String| PlotError::new(path, reason);
    let root = SVGBackend::new(path, (900, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let x_max = soak
        .samples
        .iter()
        .map(|s| s.secs)
        .fold(soak.secs, f64::max)
        .max(1.0);
    let y_max = soak.rss_max_mib.unwrap_or(1.0).max(1.0) * 1.25;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!(
                "client RSS over the soak, MiB (concurrency {}, sampled every second)",
                soak.concurrency
            ),
            ("sans-serif", 17),
        )
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .x_desc("seconds into the soak's window")
        .y_desc("RSS MiB (summed over the client's processes)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    chart
        .draw_series(std::iter::once(PathElement::new(
            soak.samples
                .iter()
                .map(|s| (s.secs, s.rss_mib))
                .collect::<Vec<_>>(),
            LINE.stroke_width(2),
        )))
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Outcome;
    use crate::run::RunFigures;
    use crate::scaling::{PointResult, sweeps};
    use baton_bench::window::Sample;

    #[test]
    fn plots_are_drawn_with_their_points() {
        let dir = std::env::temp_dir().join(format!("baton-scaling-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let plan = sweeps();
        let sweep = SweepResult {
            name: plan[0].name.to_owned(),
            axis: plan[0].axis.to_owned(),
            points: plan[0]
                .points
                .iter()
                .map(|p| PointResult {
                    x: p.x,
                    summary: Summary::new(
                        &p.config,
                        &Outcome::Ran(vec![Ok(RunFigures {
                            tasks: 10,
                            tasks_per_s: 1000.0 + p.x,
                            client_cpu_us_per_task: Some(50.0),
                            ..RunFigures::default()
                        })]),
                    ),
                })
                .collect(),
        };
        let path = dir.join(sweep_file(&sweep.name));
        draw_sweep(&path, &sweep).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..svg.len().min(200)]);
        assert!(svg.contains("2024"), "the c1024 point's label");
        assert!(svg.contains("concurrency"));

        let soak = crate::scaling::SoakResult {
            concurrency: 256,
            secs: 3.0,
            status: crate::report::Status::Ok,
            reason: None,
            figures: None,
            samples: (1..=3)
                .map(|i| Sample {
                    secs: f64::from(i),
                    rss_mib: 9.5,
                    completed: 10,
                })
                .collect(),
            rates: Vec::new(),
            rss_min_mib: Some(9.5),
            rss_median_mib: Some(9.5),
            rss_max_mib: Some(9.5),
        };
        let path = dir.join("soak-rss.svg");
        draw_soak(&path, &soak).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("polyline") || svg.contains("<path"), "a line");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sweep_files_are_named_as_documented() {
        assert_eq!(sweep_file("concurrency"), "scaling-concurrency.svg");
        assert_eq!(sweep_file("task_types"), "scaling-task-types.svg");
        assert_eq!(sweep_file("payload"), "scaling-payload.svg");
    }
}
