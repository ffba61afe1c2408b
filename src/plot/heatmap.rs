//! The verdict heatmap: one row per multiplier, one column per (attack, budget), each cell a
//! signed difference (e.g. robust accuracy − exact's, in points) on a diverging scale centred at
//! 0 (ColorBrewer RdBu, colour-blind safe: red less, blue more), a dot where the cell's test is
//! significant, text columns (clean accuracy, power) beside the rows and the colour bar on the
//! right. The canvas grows with the rows and columns.

use super::*;

/// A heatmap of signed differences.
#[derive(Debug, Clone, PartialEq)]
pub struct Heatmap {
    /// Title above the map.
    pub title: String,
    /// One line below the title (what a cell is, what the dot means).
    pub note: String,
    /// Column groups (e.g. attacks), each with its columns' labels (e.g. budgets), left to right.
    pub groups: Vec<(String, Vec<String>)>,
    /// The rows, top to bottom.
    pub rows: Vec<HeatRow>,
    /// Headers of the text columns right of the map (e.g. `clean %`, `power mW`).
    pub side: Vec<String>,
    /// The colour bar's caption (e.g. `points vs exact`).
    pub scale_label: String,
}

/// One row of a [`Heatmap`].
#[derive(Debug, Clone, PartialEq)]
pub struct HeatRow {
    /// The row label.
    pub label: String,
    /// Its marker, as in the report's other figures (none: no marker).
    pub ident: Option<Ident>,
    /// One per column over all groups, in order; `None`: not measured (drawn gray).
    pub cells: Vec<Option<HeatCell>>,
    /// One text per [`Heatmap::side`] column.
    pub side: Vec<String>,
}

/// One cell of a [`Heatmap`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeatCell {
    /// The signed value; its colour saturates at the scale's end.
    pub value: f64,
    /// Significant: drawn with a dot.
    pub marked: bool,
}

/// ColorBrewer RdBu, 11 classes (colorbrewer2.org; colour-blind safe), from −1 (dark red) to +1
/// (dark blue); colours between the stops are interpolated.
const RDBU: [(u8, u8, u8); 11] = [
    (0x67, 0x00, 0x1f),
    (0xb2, 0x18, 0x2b),
    (0xd6, 0x60, 0x4d),
    (0xf4, 0xa5, 0x82),
    (0xfd, 0xdb, 0xc7),
    (0xf7, 0xf7, 0xf7),
    (0xd1, 0xe5, 0xf0),
    (0x92, 0xc5, 0xde),
    (0x43, 0x93, 0xc3),
    (0x21, 0x66, 0xac),
    (0x05, 0x30, 0x61),
];
const MISSING: RGBColor = RGBColor(200, 200, 200);
const CH: i32 = 22;
const GAP: i32 = 5;
const TOP: i32 = 58;

/// The colour of `t` ∈ [−1, 1] (clamped).
fn diverging(t: f64) -> RGBColor {
    let f = (t.clamp(-1.0, 1.0) + 1.0) / 2.0 * (RDBU.len() - 1) as f64;
    let i = (f.floor() as usize).min(RDBU.len() - 2);
    let w = f - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * w).round() as u8;
    let (a, b) = (RDBU[i], RDBU[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The scale's end: the smallest of 1, 2, 5, 10, 20, 25, 50, 100, … at or above every |value|.
fn scale(c: &Heatmap) -> f64 {
    let max = c.rows.iter().flat_map(|r| r.cells.iter().flatten()).map(|x| x.value.abs()).fold(0.0, f64::max);
    let mut p = 1.0;
    loop {
        for m in [1.0, 2.0, 2.5, 5.0] {
            if m * p >= max && !(m == 2.5 && p == 1.0) {
                return m * p;
            }
        }
        p *= 10.0;
        if !p.is_finite() {
            return max.max(1.0);
        }
    }
}

/// The columns' pixel geometry.
struct Geometry {
    /// Left edge of the row labels and of the map.
    label_x: i32,
    map_x: i32,
    cw: i32,
    /// Top of the map.
    map_y: i32,
    /// Left edge and width of each side column.
    side: Vec<(i32, i32)>,
    bar_x: i32,
    w: i32,
    h: i32,
}

fn columns(c: &Heatmap) -> usize {
    c.groups.iter().map(|g| g.1.len()).sum()
}

fn geometry(c: &Heatmap) -> Geometry {
    let label_w = c.rows.iter().map(|r| text_w(&r.label, LEGEND as f64)).max().unwrap_or(0).min(200);
    let label_x = 10 + 22;
    let map_x = label_x + label_w + 8;
    // Wide enough for every group's label over its columns, 16..=40 px.
    let cw = c
        .groups
        .iter()
        .filter(|g| !g.1.is_empty())
        .map(|g| (text_w(&g.0, NOTE as f64) + 4 + g.1.len() as i32 - 1) / g.1.len() as i32)
        .max()
        .unwrap_or(16)
        .clamp(16, 40);
    let budget_h = c.groups.iter().flat_map(|g| g.1.iter()).map(|s| text_w(s, NOTE as f64)).max().unwrap_or(0).min(80);
    let map_y = TOP + 18 + budget_h + 6;
    let map_w = columns(c) as i32 * cw + GAP * (c.groups.len() as i32 - 1).max(0);
    let mut x = map_x + map_w + 14;
    let side = c
        .side
        .iter()
        .enumerate()
        .map(|(k, head)| {
            let w = c
                .rows
                .iter()
                .filter_map(|r| r.side.get(k))
                .chain(std::iter::once(head))
                .map(|s| text_w(s, NOTE as f64))
                .max()
                .unwrap_or(0)
                .min(160)
                + 14;
            x += w;
            (x - w, w)
        })
        .collect();
    let bar_x = x + 20;
    let tick_w = text_w("+100", NOTE as f64).max(text_w(&c.scale_label, NOTE as f64) - 20);
    let w =
        (bar_x + 16 + 6 + tick_w + 12).max(text_w(&c.title, TITLE as f64) + 20).max(text_w(&c.note, NOTE as f64) + 20);
    let h = map_y + (c.rows.len() as i32 * CH).max(190) + 16;
    Geometry { label_x, map_x, cw, map_y, side, bar_x, w, h }
}

pub(super) fn size(c: &Heatmap) -> (u32, u32) {
    let g = geometry(c);
    (g.w as u32, g.h as u32)
}

pub(super) fn checked(c: &Heatmap) -> Checked<'_> {
    c.rows
        .iter()
        .flat_map(|r| {
            r.cells.iter().enumerate().filter_map(move |(i, x)| x.map(|x| (r.label.as_str(), i, 0.0, x.value, None)))
        })
        .collect()
}

/// Relative luminance (sRGB, unlinearized: enough to pick black or white ink).
fn light(c: RGBColor) -> bool {
    0.299 * c.0 as f64 + 0.587 * c.1 as f64 + 0.114 * c.2 as f64 > 140.0
}

pub(super) fn draw<DB: DrawingBackend>(c: &Heatmap, root: &Area<DB>) -> Res<DB> {
    let g = geometry(c);
    let r = scale(c);
    put(root, &fit(&c.title, TITLE, g.w - 20), (g.w / 2, 18), TITLE, HPos::Center, BLACK)?;
    put(root, &fit(&c.note, NOTE, g.w - 20), (g.w / 2, 38), NOTE, HPos::Center, RGBColor(60, 60, 60))?;
    // Column x of every column, group by group.
    let mut xs: Vec<i32> = Vec::new();
    let mut x = g.map_x;
    for (label, cols) in &c.groups {
        let gw = cols.len() as i32 * g.cw;
        put(root, &fit(label, NOTE, gw + GAP), (x + gw / 2, TOP + 6), NOTE, HPos::Center, BLACK)?;
        for (k, col) in cols.iter().enumerate() {
            let cx = x + k as i32 * g.cw;
            xs.push(cx);
            // Read bottom-up, ending just above the map.
            let style =
                desc(NOTE).color(&BLACK).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(fit(col, NOTE, 80), (cx + g.cw / 2, g.map_y - 4), style))?;
        }
        x += gw + GAP;
    }
    for (k, head) in c.side.iter().enumerate() {
        let (sx, sw) = g.side[k];
        put(root, head, (sx + sw / 2, g.map_y - 10), NOTE, HPos::Center, BLACK)?;
    }
    for (ri, row) in c.rows.iter().enumerate() {
        let y = g.map_y + ri as i32 * CH;
        if let Some(id) = row.ident {
            let mut l = look_of(id);
            l.radius = l.radius.min(4.5);
            marker(root, (g.label_x - 13, y + CH / 2), &l)?;
        }
        put(
            root,
            &fit(&row.label, LEGEND, g.map_x - g.label_x - 8),
            (g.label_x, y + CH / 2),
            LEGEND,
            HPos::Left,
            BLACK,
        )?;
        for (ci, &cx) in xs.iter().enumerate() {
            let cell = row.cells.get(ci).copied().flatten();
            let fill = cell.map_or(MISSING, |v| diverging(v.value / r));
            root.draw(&Rectangle::new([(cx, y), (cx + g.cw - 1, y + CH - 1)], fill.filled()))?;
            if cell.is_some_and(|v| v.marked) {
                let ink = if light(fill) { BLACK } else { WHITE };
                root.draw(&Circle::new((cx + g.cw / 2, y + CH / 2), 3, ink.filled()))?;
            }
        }
        for (k, text) in row.side.iter().enumerate().take(g.side.len()) {
            let (sx, sw) = g.side[k];
            put(root, &fit(text, NOTE, sw), (sx + sw / 2, y + CH / 2), NOTE, HPos::Center, BLACK)?;
        }
    }
    // The colour bar: +r at the top, −r at the bottom, ticks every r/2.
    let (bar_y, bar_h) = (g.map_y, (c.rows.len() as i32 * CH).clamp(120, 300) - 40);
    let steps = 64;
    for k in 0..steps {
        let (y0, y1) = (bar_y + bar_h * k / steps, bar_y + bar_h * (k + 1) / steps);
        let t = 1.0 - 2.0 * (k as f64 + 0.5) / steps as f64;
        root.draw(&Rectangle::new([(g.bar_x, y0), (g.bar_x + 16, y1)], diverging(t).filled()))?;
    }
    root.draw(&Rectangle::new(
        [(g.bar_x, bar_y), (g.bar_x + 16, bar_y + bar_h)],
        RGBColor(90, 90, 90).stroke_width(1),
    ))?;
    for k in 0..=4 {
        let v = r * (1.0 - k as f64 / 2.0);
        let y = bar_y + bar_h * k / 4;
        root.draw(&PathElement::new([(g.bar_x + 16, y), (g.bar_x + 20, y)], BLACK.stroke_width(1)))?;
        let text = if v > 0.0 { format!("+{}", fmt_num(v)) } else { fmt_num(v) };
        put(root, &text, (g.bar_x + 23, y), NOTE, HPos::Left, BLACK)?;
    }
    put(root, &fit(&c.scale_label, NOTE, g.w - g.bar_x + 10), (g.bar_x - 10, bar_y - 10), NOTE, HPos::Left, BLACK)?;
    // What the dot and the gray mean.
    let ly = bar_y + bar_h + 18;
    root.draw(&Circle::new((g.bar_x + 8, ly), 3, BLACK.filled()))?;
    put(root, "significant", (g.bar_x + 20, ly), NOTE, HPos::Left, BLACK)?;
    if c.rows.iter().any(|r| r.cells.len() < xs.len() || r.cells.iter().any(Option::is_none)) {
        root.draw(&Rectangle::new([(g.bar_x + 2, ly + 12), (g.bar_x + 14, ly + 24)], MISSING.filled()))?;
        put(root, "not measured", (g.bar_x + 20, ly + 18), NOTE, HPos::Left, BLACK)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_is_centred_and_saturates() {
        assert_eq!(diverging(0.0), RGBColor(0xf7, 0xf7, 0xf7));
        assert_eq!(diverging(-1.0), RGBColor(0x67, 0x00, 0x1f));
        assert_eq!(diverging(7.0), RGBColor(0x05, 0x30, 0x61));
        let h = |v: f64| Heatmap {
            title: String::new(),
            note: String::new(),
            groups: vec![],
            rows: vec![HeatRow {
                label: String::new(),
                ident: None,
                cells: vec![Some(HeatCell { value: v, marked: false })],
                side: vec![],
            }],
            side: vec![],
            scale_label: String::new(),
        };
        assert_eq!(scale(&h(0.0)), 1.0);
        assert_eq!(scale(&h(-3.2)), 5.0);
        assert_eq!(scale(&h(21.0)), 25.0);
        assert_eq!(scale(&h(-87.0)), 100.0);
    }
}
