//! The charts, drawn with plotters into SVG and PNG: the paper's Figure 4 (latency by kind),
//! Figure 5 (fragments by kind), Table II (energy, split by part) and latency against loss.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;

use crate::report::{Cell, paper};

/// Where a TrueType font is looked for (plotters needs one to lay out text).
pub const FONT_PATHS: [&str; 4] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Registers the font used for every label (`--font`, or the first of [`FONT_PATHS`]).
pub fn register_font(given: Option<&Path>) -> Result<()> {
    let path = match given {
        Some(p) => p.to_path_buf(),
        None => FONT_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .context(
                "no TrueType font found (install fonts-dejavu-core, or pass --font FILE.ttf)",
            )?,
    };
    let bytes = std::fs::read(&path).with_context(|| format!("font {}", path.display()))?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    for style in [FontStyle::Normal, FontStyle::Bold] {
        plotters::style::register_font("sans-serif", style, bytes)
            .map_err(|_| anyhow!("{} is not a usable TrueType font", path.display()))?;
    }
    Ok(())
}

const SIZE: (u32, u32) = (1000, 600);

const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Kinds in first-seen order, and loss rates ascending.
fn axes(cells: &[Cell]) -> (Vec<String>, Vec<f64>) {
    let mut kinds: Vec<String> = Vec::new();
    for c in cells {
        if !kinds.contains(&c.kind) {
            kinds.push(c.kind.clone());
        }
    }
    let mut losses: Vec<f64> = cells.iter().map(|c| c.loss).collect();
    losses.sort_by(f64::total_cmp);
    losses.dedup();
    (kinds, losses)
}

fn cell<'a>(cells: &'a [Cell], kind: &str, loss: f64) -> Option<&'a Cell> {
    cells.iter().find(|c| c.kind == kind && c.loss == loss)
}

type DrawResult<DB> =
    std::result::Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

/// What [`grouped_bars`] draws: one group per kind, one bar per loss rate.
struct Groups<'a> {
    kinds: &'a [String],
    losses: &'a [f64],
    cells: &'a [Cell],
    value: &'a dyn Fn(&Cell) -> (f64, f64),
    y_desc: &'a str,
    label: &'a dyn Fn(&f64) -> String,
}

/// Grouped bars: one group per kind, one bar per loss rate, mean with a +-sd whisker.
fn grouped_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    cells: &[Cell],
    value: &dyn Fn(&Cell) -> (f64, f64),
    log: bool,
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (kinds, losses) = axes(cells);
    let vals: Vec<f64> = cells
        .iter()
        .map(|c| value(c).0 + value(c).1)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let top = vals.iter().copied().fold(1.0, f64::max) * if log { 2.0 } else { 1.15 };
    let x_range = -0.5..(kinds.len() as f64 - 0.5);
    let label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 {
            kinds.get(i as usize).cloned().unwrap_or_default()
        } else {
            String::new()
        }
    };
    let groups = Groups {
        kinds: &kinds,
        losses: &losses,
        cells,
        value,
        y_desc,
        label: &label,
    };
    let mut builder = ChartBuilder::on(root);
    builder
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70);
    if log {
        let bottom = vals
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(top / 10.0)
            / 2.0;
        draw_groups(
            builder.build_cartesian_2d(x_range, (bottom..top).log_scale())?,
            bottom,
            &groups,
        )?;
    } else {
        draw_groups(builder.build_cartesian_2d(x_range, 0.0..top)?, 0.0, &groups)?;
    }
    root.present()
}

/// The mesh, bars, whiskers and legend of [`grouped_bars`] on a linear or log y axis whose
/// bars start at `bottom`.
fn draw_groups<'a, DB: DrawingBackend + 'a, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>,
    bottom: f64,
    g: &Groups<'_>,
) -> DrawResult<DB>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(g.kinds.len())
        .x_label_formatter(g.label)
        .y_desc(g.y_desc)
        .label_style(("sans-serif", 14))
        .draw()?;
    let width = 0.8 / g.losses.len().max(1) as f64;
    for (j, &loss) in g.losses.iter().enumerate() {
        let c = color(j);
        let mut bars = Vec::new();
        let mut whiskers = Vec::new();
        for (i, k) in g.kinds.iter().enumerate() {
            let Some(cell) = cell(g.cells, k, loss) else {
                continue;
            };
            let (mean, sd) = (g.value)(cell);
            if !mean.is_finite() || mean <= 0.0 {
                continue;
            }
            let x0 = i as f64 - 0.4 + j as f64 * width;
            bars.push(Rectangle::new(
                [(x0 + 0.01, bottom), (x0 + width - 0.01, mean)],
                c.filled(),
            ));
            let xm = x0 + width / 2.0;
            let lo = (mean - sd).max(bottom);
            whiskers.push(PathElement::new(
                vec![(xm, lo), (xm, mean + sd)],
                BLACK.stroke_width(1),
            ));
        }
        chart
            .draw_series(bars)?
            .label(format!("loss {:.0}%", loss * 100.0))
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(whiskers)?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

/// Stacked energy bars per kind at one loss rate, both settings side by side, with the
/// paper's two measured totals.
fn energy_bars<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cells: &[Cell],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (kinds, losses) = axes(cells);
    let loss = losses.first().copied().unwrap_or(0.0);
    let halves = root.split_evenly((1, 2));
    let parts = ["CPU", "ECC", "Tx", "Rx", "LPM"];
    for (h, area) in halves.iter().enumerate() {
        let duty = h == 1;
        let mut bars: Vec<(String, Vec<f64>)> = kinds
            .iter()
            .filter_map(|k| cell(cells, k, loss))
            .map(|c| {
                let v = if duty { c.duty } else { c.on };
                let parts = if duty {
                    vec![v[0], v[1], v[2], v[3], v[4]]
                } else {
                    vec![v[0], v[1], v[2], v[3], 0.0]
                };
                (c.kind.clone(), parts)
            })
            .collect();
        if !duty {
            bars.push((
                "paper CDPSK".into(),
                vec![0.0, 0.0, 0.0, 0.0, paper::ENERGY_CDPSK_MJ],
            ));
            bars.push((
                "paper CDSSP".into(),
                vec![0.0, 0.0, 0.0, 0.0, paper::ENERGY_DELEGATED_MJ],
            ));
        }
        let totals: Vec<f64> = bars
            .iter()
            .map(|(_, p)| p.iter().sum::<f64>())
            .filter(|t| t.is_finite() && *t > 0.0)
            .collect();
        let top = totals.iter().copied().fold(1.0, f64::max) * 3.0;
        let bottom = totals
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min)
            .min(top / 10.0)
            / 3.0;
        let names: Vec<String> = bars.iter().map(|(k, _)| k.clone()).collect();
        let label = move |y: &f64| {
            let i = y.round();
            if (y - i).abs() < 1e-6 && i >= 0.0 {
                names.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        let title = if duty {
            "duty-cycled radio"
        } else {
            "always-on radio (idle listening)"
        };
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!(
                    "Mote energy per handshake, {title}, loss {:.0}%",
                    loss * 100.0
                ),
                ("sans-serif", 16),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(170)
            .build_cartesian_2d((bottom..top).log_scale(), -0.5..(bars.len() as f64 - 0.5))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(bars.len())
            .y_label_formatter(&label)
            .x_desc("mJ (log scale; parts stacked)")
            .label_style(("sans-serif", 13))
            .draw()?;
        for (p, part) in parts.iter().enumerate() {
            let c = if p == 4 && !duty {
                RGBColor(90, 90, 90)
            } else {
                color(p)
            };
            let rects: Vec<_> = bars
                .iter()
                .enumerate()
                .filter_map(|(i, (_, v))| {
                    let from: f64 = v[..p].iter().sum::<f64>().max(bottom);
                    let to = from + v[p];
                    (v[p] > 0.0 && to.is_finite()).then(|| {
                        Rectangle::new([(from, i as f64 - 0.35), (to, i as f64 + 0.35)], c.filled())
                    })
                })
                .collect();
            let name = if p == 4 && !duty {
                "paper (measured total)".to_string()
            } else {
                part.to_string()
            };
            chart
                .draw_series(rects)?
                .label(name)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 12))
            .draw()?;
    }
    root.present()
}

/// Mean latency against loss rate, one line per kind (log scale).
fn latency_vs_loss<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    cells: &[Cell],
) -> DrawResult<DB> {
    root.fill(&WHITE)?;
    let (kinds, losses) = axes(cells);
    let vals: Vec<f64> = cells
        .iter()
        .map(|c| c.latency_ms.mean)
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let top = vals.iter().copied().fold(1.0, f64::max) * 2.0;
    let bottom = vals
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(top / 10.0)
        / 2.0;
    let max_loss = losses.last().copied().unwrap_or(0.2).max(0.05) * 100.0;
    let mut chart = ChartBuilder::on(root)
        .caption("Handshake latency against frame loss", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(-1.0..max_loss + 1.0, (bottom..top).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("frame and ACK loss, %")
        .y_desc("mean latency, ms (log scale)")
        .label_style(("sans-serif", 14))
        .draw()?;
    for (i, k) in kinds.iter().enumerate() {
        let c = color(i);
        let pts: Vec<(f64, f64)> = losses
            .iter()
            .filter_map(|&l| cell(cells, k, l))
            .map(|cell| (cell.loss * 100.0, cell.latency_ms.mean))
            .filter(|(_, v)| v.is_finite() && *v > 0.0)
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), c.stroke_width(2)))?
            .label(k.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], c.stroke_width(2)));
        chart.draw_series(pts.into_iter().map(|p| Circle::new(p, 4, c.filled())))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;
    root.present()
}

/// The charts' file stems.
pub const CHARTS: [&str; 4] = [
    "fig4-latency",
    "fig5-fragments",
    "table2-energy",
    "latency-vs-loss",
];

fn draw_one<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    which: &str,
    cells: &[Cell],
) -> DrawResult<DB> {
    match which {
        "fig4-latency" => grouped_bars(
            &root,
            "Handshake latency by kind (paper Fig. 4): mean +- sd",
            "ms, first ClientHello to Finished (log scale)",
            cells,
            &|c| (c.latency_ms.mean, c.latency_ms.sd),
            true,
        ),
        "fig5-fragments" => grouped_bars(
            &root,
            "6LoWPAN handshake fragments by kind (paper Fig. 5): mean +- sd",
            "802.15.4 frames per handshake, both ways",
            cells,
            &|c| (c.fragments.mean, c.fragments.sd),
            false,
        ),
        "table2-energy" => energy_bars(&root, cells),
        _ => latency_vs_loss(&root, cells),
    }
}

/// Draws every chart as SVG and PNG into `dir`; returns the files written.
pub fn draw_all(cells: &[Cell], dir: &Path) -> Result<Vec<PathBuf>> {
    if cells.is_empty() {
        bail!("no cells to draw");
    }
    let mut files = Vec::new();
    for which in CHARTS {
        let svg = dir.join(format!("{which}.svg"));
        let size = if which == "table2-energy" {
            (1400, 600)
        } else {
            SIZE
        };
        draw_one(
            SVGBackend::new(&svg, size).into_drawing_area(),
            which,
            cells,
        )
        .map_err(|e| anyhow!("drawing {}: {e}", svg.display()))?;
        let png = dir.join(format!("{which}.png"));
        draw_one(
            BitMapBackend::new(&png, size).into_drawing_area(),
            which,
            cells,
        )
        .map_err(|e| anyhow!("drawing {}: {e}", png.display()))?;
        files.push(svg);
        files.push(png);
    }
    Ok(files)
}
