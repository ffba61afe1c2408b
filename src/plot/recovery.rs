//! What accuracy recovery buys: accuracy against multiplier power, one arrow per multiplier and
//! recovery method from the unrecovered point (open marker) to the recovered one (filled), the
//! method told by the arrow's dash pattern and the multiplier by its [`Ident`]. Power does not
//! change with recovery, so arrows are vertical; several methods of one multiplier are dodged a
//! few pixels apart.

use super::*;

/// Accuracy before and after recovery against power.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The recovery methods, in legend order (each arrow names one by index).
    pub methods: Vec<String>,
    /// One per multiplier.
    pub points: Vec<Recovered>,
    /// Horizontal lines to draw.
    pub thresholds: Vec<Threshold>,
}

/// One multiplier of a [`RecoveryChart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Recovered {
    /// The legend text.
    pub label: String,
    /// How it is drawn.
    pub ident: Ident,
    /// The x value (e.g. power).
    pub x: f64,
    /// Unrecovered y and its 95 % interval (`None`: not measured; no arrow is drawn).
    pub before: Option<(f64, (f64, f64))>,
    /// Recovered: (method index, y, 95 % interval).
    pub after: Vec<(usize, f64, (f64, f64))>,
}

/// Dash pattern of method `k` (solid, dashed, dotted, dash-dot).
const METHOD_DASHES: [&[f64]; 4] = [&[], &[7.0, 4.0], &[2.0, 3.0], &[9.0, 3.0, 2.0, 3.0]];

pub(super) fn checked(c: &RecoveryChart) -> Checked<'_> {
    let mut v: Checked = Vec::new();
    for (i, p) in c.points.iter().enumerate() {
        if let Some((y, ci)) = p.before {
            v.push((p.label.as_str(), i, p.x, y, Some(ci)));
        }
        v.extend(p.after.iter().map(|&(_, y, ci)| (p.label.as_str(), i, p.x, y, Some(ci))));
        if p.before.is_none() && p.after.is_empty() {
            v.push((p.label.as_str(), i, p.x, 0.0, None));
        }
    }
    v
}

pub(super) fn draw<DB: DrawingBackend>(c: &RecoveryChart, root: &Area<DB>) -> Res<DB> {
    let xs = c.points.iter().map(|p| p.x);
    let x = span(xs, 0.08);
    let ys = c.points.iter().flat_map(|p| {
        p.before
            .iter()
            .flat_map(|&(y, ci)| [y, ci.0, ci.1])
            .chain(p.after.iter().flat_map(|&(_, y, ci)| [y, ci.0, ci.1]))
    });
    let y = span(ys.chain(c.thresholds.iter().map(|t| t.y)), 0.06);
    let method_rows: Vec<String> = c.methods.iter().map(|m| format!("→ {m}")).collect();
    let labels = c.points.iter().map(|p| p.label.as_str()).chain(method_rows.iter().map(String::as_str));
    let (legend_w, max_text) = legend_width(labels.chain(["open: unrecovered"]));
    let [plot, legend_area] = split(root, &c.title, legend_w)?;
    let chart =
        frame(&plot, (&c.x_label, &c.y_label), (x.0, x.1, nice_ticks(x.0, x.1)), (y.0, y.1, nice_ticks(y.0, y.1)))?;
    thresholds(root, &chart, &c.thresholds, false, &[])?;
    let at = |x: f64, y: f64| chart.backend_coord(&(x, y));
    let mut markers: Vec<Rect> = Vec::new();
    for p in &c.points {
        let l = look_of(p.ident);
        let m = p.after.len() as i32;
        for (k, &(method, ya, ci_a)) in p.after.iter().enumerate() {
            let dx = 8 * k as i32 - 4 * (m - 1);
            let (ax, ay) = at(p.x, ya);
            error_bar(root, ax + dx, (at(p.x, ci_a.0).1, at(p.x, ci_a.1).1), l.color)?;
            if let Some((yb, _)) = p.before {
                let (bx, by) = at(p.x, yb);
                arrow(root, (bx + dx, by), (ax + dx, ay), METHOD_DASHES[method % 4], l.color)?;
            }
        }
        if let Some((yb, ci)) = p.before {
            let (bx, by) = at(p.x, yb);
            error_bar(root, bx, (at(p.x, ci.0).1, at(p.x, ci.1).1), l.color)?;
            marker(root, (bx, by), &Look { filled: false, ..l })?;
            markers.push((bx - 6, by - 6, bx + 7, by + 7));
        }
        for (k, &(_, ya, _)) in p.after.iter().enumerate() {
            let (ax, ay) = at(p.x, ya);
            let ax = ax + 8 * k as i32 - 4 * (m - 1);
            marker(root, (ax, ay), &Look { filled: true, ..l })?;
            markers.push((ax - 6, ay - 6, ax + 7, ay + 7));
        }
    }
    thresholds(root, &chart, &c.thresholds, true, &markers)?;
    // Legend: one row per multiplier (its marker), then one per method (its arrow's dash).
    let step = 20;
    let mut ly = 16;
    for p in &c.points {
        let l = look_of(p.ident);
        marker(&legend_area, (21, ly), &Look { filled: true, ..l })?;
        put(&legend_area, &fit(&p.label, LEGEND, max_text), (46, ly), LEGEND, HPos::Left, BLACK)?;
        ly += step;
    }
    ly += 8;
    let gray = RGBColor(80, 80, 80);
    marker(
        &legend_area,
        (21, ly),
        &Look { color: gray, width: 0, dash: &[], shape: Shape::Circle, radius: 4.5, filled: false },
    )?;
    put(&legend_area, "open: unrecovered", (46, ly), LEGEND, HPos::Left, BLACK)?;
    for (k, row) in method_rows.iter().enumerate() {
        ly += step;
        polyline(&legend_area, &[(4.0, ly as f64), (38.0, ly as f64)], METHOD_DASHES[k % 4], gray.stroke_width(2))?;
        put(&legend_area, &fit(row, LEGEND, max_text), (46, ly), LEGEND, HPos::Left, BLACK)?;
    }
    Ok(())
}

/// A line from `a` towards `b`, stopping short of the markers, with a filled head at `b`'s end;
/// nothing when they are too close to tell apart.
fn arrow<DB: DrawingBackend>(a: &Area<DB>, from: (i32, i32), to: (i32, i32), dash: &[f64], color: RGBColor) -> Res<DB> {
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = dx.hypot(dy);
    if len < 16.0 {
        return Ok(());
    }
    let (ux, uy) = (dx / len, dy / len);
    let start = (from.0 as f64 + 6.0 * ux, from.1 as f64 + 6.0 * uy);
    let tip = (to.0 as f64 - 6.0 * ux, to.1 as f64 - 6.0 * uy);
    let base = (tip.0 - 8.0 * ux, tip.1 - 8.0 * uy);
    polyline(a, &[start, base], dash, color.stroke_width(2))?;
    let head = [tip, (base.0 - 4.0 * uy, base.1 + 4.0 * ux), (base.0 + 4.0 * uy, base.1 - 4.0 * ux)];
    a.draw(&Polygon::new(
        head.iter().map(|&(x, y)| (x.round() as i32, y.round() as i32)).collect::<Vec<_>>(),
        color.filled(),
    ))
}
