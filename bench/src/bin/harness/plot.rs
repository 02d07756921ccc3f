//! `throughput.svg`: two horizontal bar charts by configuration, tasks/s (log scale) and
//! client CPU per task (log scale), Baton, the ceiling loop and peers in three colours.

use std::path::Path;

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;

use crate::configs::Family;
use crate::report::Summary;

/// Why the plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing {path}: {reason}")]
pub struct PlotError {
    path: String,
    reason: String,
}

impl PlotError {
    /// A failure to draw `path`.
    pub fn new(path: &Path, reason: String) -> Self {
        Self {
            path: path.display().to_string(),
            reason,
        }
    }
}

fn colour(family: Family) -> RGBColor {
    match family {
        Family::Baton => RGBColor(31, 119, 180),
        Family::Ceiling => RGBColor(127, 127, 127),
        Family::Peer => RGBColor(255, 127, 14),
    }
}

/// Draws the two charts of `summaries` into `path`.
pub fn draw(path: &Path, summaries: &[Summary]) -> Result<(), PlotError> {
    let fail = |reason: String| PlotError {
        path: path.display().to_string(),
        reason,
    };
    let rows = summaries.len().max(1);
    let height = (120 + rows * 26) as u32;
    let root = SVGBackend::new(path, (1000, height * 2)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let (top, bottom) = root.split_vertically(height);
    panel(
        &top,
        "completed tasks per second (log scale)",
        summaries,
        |s| s.tasks_per_s,
    )
    .map_err(fail)?;
    panel(
        &bottom,
        "client CPU per task, µs, whole process tree (log scale; lower is better)",
        summaries,
        |s| s.client_cpu_us_per_task,
    )
    .map_err(fail)?;
    root.present().map_err(|e| fail(e.to_string()))
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    summaries: &[Summary],
    value: fn(&Summary) -> Option<f64>,
) -> Result<(), String> {
    let values: Vec<Option<f64>> = summaries
        .iter()
        .map(|s| value(s).filter(|v| v.is_finite() && *v > 0.0))
        .collect();
    let max = values.iter().flatten().copied().fold(1.0, f64::max);
    let min = values
        .iter()
        .flatten()
        .copied()
        .fold(max, f64::min)
        .min(max)
        / 2.0;
    let names: Vec<String> = summaries.iter().map(|s| s.name.clone()).collect();
    let rows = summaries.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(230)
        .build_cartesian_2d(
            (min.max(0.1)..max * 3.0).log_scale(),
            (0..rows).into_segmented(),
        )
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                names.get(*i).cloned().unwrap_or_default()
            }
            SegmentValue::Last => String::new(),
        })
        .x_label_formatter(&|x| format!("{x:.0}"))
        .draw()
        .map_err(|e| e.to_string())?;
    let floor = min.max(0.1);
    chart
        .draw_series(summaries.iter().zip(&values).enumerate().filter_map(
            |(i, (summary, value))| {
                let value = (*value)?;
                Some(Rectangle::new(
                    [
                        (floor, SegmentValue::Exact(i)),
                        (value, SegmentValue::Exact(i + 1)),
                    ],
                    colour(summary.family).filled(),
                ))
            },
        ))
        .map_err(|e| e.to_string())?;
    chart
        .draw_series(values.iter().enumerate().map(|(i, value)| {
            let label = value.map_or_else(
                || "n/a".to_owned(),
                |v| {
                    if v >= 100.0 {
                        format!("{v:.0}")
                    } else {
                        format!("{v:.1}")
                    }
                },
            );
            Text::new(
                label,
                (value.unwrap_or(floor) * 1.08, SegmentValue::CenterOf(i)),
                ("sans-serif", 13),
            )
        }))
        .map_err(|e| e.to_string())?;
    Ok(())
}
