//! Small multiples: a grid of panels sharing both axes (e.g. one column per threat model, one
//! row per group of multipliers), few series per panel, each drawn by its [`Ident`] so a
//! multiplier looks the same in every panel and figure. The exact baseline's 95 % interval is a
//! gray band under its thick black line; every other series has error bars, dodged by a few
//! pixels so coinciding intervals stay apart. Each row's legend sits right of the row.

use super::*;

/// A grid of line panels with shared axes.
#[derive(Debug, Clone, PartialEq)]
pub struct Panels {
    /// Title above the grid.
    pub title: String,
    /// Label of the shared x axis.
    pub x_label: String,
    /// Label of the shared y axis.
    pub y_label: String,
    /// Widened (never narrowed) to hold every point's y; intervals are clipped to it.
    pub y_range: (f64, f64),
    /// Column headers (e.g. threat models).
    pub columns: Vec<String>,
    /// Row headers, shown above each row's legend (e.g. a group's power range).
    pub rows: Vec<String>,
    /// `cells[row][column]`: the series of that panel (empty: an empty panel).
    pub cells: Vec<Vec<Vec<PanelSeries>>>,
}

/// One series of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct PanelSeries {
    /// The legend text.
    pub label: String,
    /// How it is drawn.
    pub ident: Ident,
    /// The points (joined in x order).
    pub points: Vec<Point>,
}

const PW: i32 = 290;
const PH: i32 = 210;
const LEFT: i32 = 28;
const HEAD: i32 = 56;

fn legend_w(c: &Panels) -> i32 {
    let labels = c.cells.iter().flatten().flatten().map(|s| s.label.as_str()).chain(c.rows.iter().map(|s| s.as_str()));
    legend_width(labels).0
}

pub(super) fn size(c: &Panels) -> (u32, u32) {
    let cols = c.columns.len().max(1) as i32;
    let rows = c.rows.len().max(c.cells.len()).max(1) as i32;
    ((LEFT + cols * PW + legend_w(c) + 8) as u32, (HEAD + rows * PH + 34) as u32)
}

pub(super) fn checked(c: &Panels) -> Checked<'_> {
    let mut v: Checked = c
        .cells
        .iter()
        .flatten()
        .flatten()
        .flat_map(|s| s.points.iter().enumerate().map(|(i, p)| (s.label.as_str(), i, p.x, p.y, p.ci)))
        .collect();
    if !c.y_range.0.is_finite() || !c.y_range.1.is_finite() {
        v.insert(0, ("y_range", 0, f64::NAN, 0.0, None));
    }
    v
}

pub(super) fn draw<DB: DrawingBackend>(c: &Panels, root: &Area<DB>) -> Res<DB> {
    let (w, h) = size(c);
    let (w, h) = (w as i32, h as i32);
    put(root, &fit(&c.title, TITLE, w - 20), (w / 2, 18), TITLE, HPos::Center, BLACK)?;
    let all = || c.cells.iter().flatten().flatten().flat_map(|s| s.points.iter());
    let x = span(all().map(|p| p.x), 0.05);
    let y = span([c.y_range.0, c.y_range.1].into_iter().chain(all().map(|p| p.y)), 0.0);
    let mut xs: Vec<f64> = all().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let x_ticks = if (1..=8).contains(&xs.len()) { xs } else { nice_ticks(x.0, x.1) };
    let y_ticks = nice_ticks(y.0, y.1);
    for (k, head) in c.columns.iter().enumerate() {
        put(root, &fit(head, AXIS, PW - 10), (LEFT + k as i32 * PW + PW / 2, 44), AXIS, HPos::Center, BLACK)?;
    }
    let y_desc = desc(AXIS).color(&BLACK).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Center));
    let rows_h = c.cells.len().max(1) as i32 * PH;
    root.draw(&Text::new(fit(&c.y_label, AXIS, rows_h - 10), (12, HEAD + rows_h / 2), y_desc))?;
    let cols_w = c.columns.len().max(1) as i32 * PW;
    put(root, &fit(&c.x_label, AXIS, cols_w - 10), (LEFT + cols_w / 2, h - 12), AXIS, HPos::Center, BLACK)?;
    for (ri, row) in c.cells.iter().enumerate() {
        let top = HEAD + ri as i32 * PH;
        for (ci, series) in row.iter().enumerate().take(c.columns.len()) {
            let area = root.clone().shrink((LEFT + ci as i32 * PW, top), (PW as u32, PH as u32));
            let chart = panel_frame(&area, (x.0, x.1, x_ticks.clone()), (y.0, y.1, y_ticks.clone()))?;
            panel(root, &chart, series, y)?;
        }
        // The row's legend: its header, then every series of its panels once.
        let lx = LEFT + c.columns.len().max(1) as i32 * PW + 8;
        let mut seen: Vec<(&str, Ident)> = Vec::new();
        for s in row.iter().flatten() {
            if !seen.iter().any(|(l, i)| *l == s.label && *i == s.ident) {
                seen.push((&s.label, s.ident));
            }
        }
        let mut ly = top + 14;
        if let Some(head) = c.rows.get(ri) {
            put(root, &fit(head, LEGEND, w - lx - 6), (lx + 4, ly), LEGEND, HPos::Left, RGBColor(60, 60, 60))?;
            ly += 20;
        }
        let max_text = w - lx - 52;
        for (label, id) in seen {
            let l = look_of(id);
            polyline(
                root,
                &[(lx as f64 + 4.0, ly as f64), (lx as f64 + 38.0, ly as f64)],
                l.dash,
                l.color.stroke_width(l.width),
            )?;
            marker(root, (lx + 21, ly), &l)?;
            put(root, &fit(label, LEGEND, max_text), (lx + 46, ly), LEGEND, HPos::Left, BLACK)?;
            ly += 19;
        }
    }
    Ok(())
}

/// Axes, ticks and grid of one panel; `x` and `y` are (lo, hi, ticks).
fn panel_frame<'a, DB: DrawingBackend>(
    area: &'a Area<DB>,
    x: (f64, f64, Vec<f64>),
    y: (f64, f64, Vec<f64>),
) -> Result<Chart2d<'a, DB>, DErr<DB>> {
    let (left, right) = (40, 10);
    let plot_w = (area.dim_in_pixel().0 as i32 - left - right) as f64;
    let x_ticks = thin_ticks(x.2, |v| (v - x.0) / (x.1 - x.0) * plot_w);
    let mut chart = ChartBuilder::on(area)
        .margin_top(4)
        .margin_right(right as u32)
        .margin_bottom(4)
        .x_label_area_size(22)
        .y_label_area_size(left as u32)
        .build_cartesian_2d(Axis { lo: x.0, hi: x.1, ticks: x_ticks }, Axis { lo: y.0, hi: y.1, ticks: y.2 })?;
    let fmt = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style(desc(NOTE))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()?;
    Ok(chart)
}

/// The points of `s` in x order.
fn sorted(s: &PanelSeries) -> Vec<&Point> {
    let mut v: Vec<&Point> = s.points.iter().collect();
    v.sort_by(|a, b| a.x.total_cmp(&b.x));
    v
}

/// The series of one panel: the exact band, lines (exact first, thick), error bars, markers.
fn panel<DB: DrawingBackend>(root: &Area<DB>, chart: &Chart2d<DB>, series: &[PanelSeries], y: (f64, f64)) -> Res<DB> {
    let clip = |v: f64| v.max(y.0).min(y.1);
    let px = |p: &Point| chart.backend_coord(&(p.x, clip(p.y)));
    let mut order: Vec<usize> = (0..series.len()).collect();
    order.sort_by_key(|&i| match series[i].ident {
        Ident::Exact => 0,
        Ident::Float => 1,
        Ident::Multiplier(_) => 2,
    });
    for s in series.iter().filter(|s| s.ident == Ident::Exact) {
        let pts = sorted(s);
        let band: Vec<(i32, i32)> = pts
            .iter()
            .filter_map(|p| p.ci.map(|c| chart.backend_coord(&(p.x, clip(c.1)))))
            .chain(pts.iter().rev().filter_map(|p| p.ci.map(|c| chart.backend_coord(&(p.x, clip(c.0))))))
            .collect();
        if band.len() >= 3 {
            root.draw(&Polygon::new(band, BLACK.mix(0.13).filled()))?;
        }
    }
    for &i in &order {
        let l = look_of(series[i].ident);
        let pts: Vec<(f64, f64)> = sorted(&series[i]).into_iter().map(px).map(|(a, b)| (a as f64, b as f64)).collect();
        polyline(root, &pts, l.dash, l.color.stroke_width(l.width))?;
    }
    let bars: Vec<usize> = order.iter().copied().filter(|&i| series[i].ident != Ident::Exact).collect();
    let n = bars.len() as i32;
    for (k, &i) in bars.iter().enumerate() {
        let color = look_of(series[i].ident).color;
        for p in &series[i].points {
            if let Some((lo, hi)) = p.ci {
                let py = |v: f64| chart.backend_coord(&(p.x, clip(v))).1;
                error_bar(root, px(p).0 + 3 * k as i32 - 3 * (n - 1) / 2, (py(lo), py(hi)), color)?;
            }
        }
    }
    for &i in &order {
        let l = look_of(series[i].ident);
        for p in &series[i].points {
            marker(root, px(p), &l)?;
        }
    }
    Ok(())
}
