//! Charts for studies: robust accuracy against ε ([`LineChart`]) and accuracy against cost with a
//! Pareto front ([`ScatterChart`]), each written as SVG and PNG (900×560) through `plotters`.
//!
//! Text: PNG text is rasterised by plotters' `ab_glyph` feature from DejaVu Sans embedded with
//! `include_bytes!` (`assets/fonts/`, with its licence), registered as the family `sans-serif`. This
//! needs neither fontconfig nor any installed font at run time, so a fresh CI machine renders the
//! same pixels as a developer's; the cost is ~740 KB in the binary. SVG text names `sans-serif` and
//! leaves the face to the viewer; its layout (label widths, truncation) uses the same metrics.
//!
//! Layout rules, so overlapping series stay readable:
//! - legend outside the plot area, on the right, so it never covers data;
//! - the [`Role::Baseline`] (exact multiplier) is drawn first, thick and black, so exactly
//!   coinciding series drawn thinner on top of it stay visible; [`Role::Reference`] is gray, dashed;
//!   [`Role::Normal`] series cycle 10 colours × 8 marker shapes × 4 dash patterns;
//! - markers are outlined with a light tint, so coinciding markers of different shapes all show;
//! - error bars of series `i` of `n` are shifted right by `2·i − (n−1)` pixels (a deterministic
//!   dodge, not a change of data) so coinciding intervals can be told apart;
//! - x ticks sit at the data's x values when there are at most 12 distinct ones;
//! - threshold labels and scatter point labels are placed to avoid each other; a scatter label
//!   that fits nowhere free is left out (front labels are placed first), since overlapping text is
//!   unreadable anyway.
//!
//! Output is deterministic: same input → byte-identical SVG and PNG. Every marker is exactly one
//! `<polygon>` in the SVG (points, then one per legend entry), which tests count.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendTextStyle, DrawingErrorKind};
use std::path::{Path, PathBuf};

/// How a series is drawn: the exact (reference hardware) baseline distinctly (thick black), the float model dashed, others in a palette with distinct markers and dash patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Baseline,
    Reference,
    Normal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
    /// 95 % interval of y, drawn as an error bar
    pub ci: Option<(f64, f64)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub label: String,
    pub role: Role,
    /// Drawn joined in x order.
    pub points: Vec<Point>,
}

/// A labelled horizontal line (e.g. the paper's 90 % accuracy threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    pub y: f64,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    /// Widened (never narrowed) to include every point's y; intervals are clipped to it.
    pub y_range: (f64, f64),
    pub series: Vec<Series>,
    pub thresholds: Vec<Threshold>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    pub x: f64,
    pub y: f64,
    pub label: String,
    pub ci: Option<(f64, f64)>,
    /// on the Pareto front: drawn filled, joined by a line
    pub front: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScatterChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub points: Vec<ScatterPoint>,
    pub thresholds: Vec<Threshold>,
    /// label every point (else only front points)
    pub label_all: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `series` is the series label (line chart), the point label (scatter), `threshold …` or `y_range`.
    #[error("{}: {series:?}, point {index}: {field} is not finite", path.display())]
    NonFinite { path: PathBuf, series: String, index: usize, field: &'static str },
    #[error("{}: drawing failed: {message}", path.display())]
    Draw { path: PathBuf, message: String },
    #[error("{}: encoding PNG: {source}", path.display())]
    Png { path: PathBuf, source: image::ImageError },
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

/// Writes `{stem}.svg` and `{stem}.png` (stem = path without extension), atomically (temp file + rename in the same folder).
pub fn line_chart(c: &LineChart, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Line(c), stem)
}

/// Writes `{stem}.svg` and `{stem}.png`, like [`line_chart`].
pub fn scatter_chart(c: &ScatterChart, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Scatter(c), stem)
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn line_chart_svg(c: &LineChart) -> Result<String, PlotError> {
    svg(Chart::Line(c), Path::new("(svg in memory)"))
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn scatter_chart_svg(c: &ScatterChart) -> Result<String, PlotError> {
    svg(Chart::Scatter(c), Path::new("(svg in memory)"))
}

const W: u32 = 900;
const H: u32 = 560;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
];
/// On/off lengths in pixels; empty = solid.
const DASHES: [&[f64]; 4] = [&[], &[2.0, 3.0], &[9.0, 3.0, 2.0, 3.0], &[5.0, 3.0]];
const THRESHOLD: RGBColor = RGBColor(170, 30, 30);

#[derive(Clone, Copy)]
enum Chart<'a> {
    Line(&'a LineChart),
    Scatter(&'a ScatterChart),
}

#[derive(Clone, Copy)]
enum Shape {
    Circle,
    Square,
    TriUp,
    Diamond,
    TriDown,
    Plus,
    Cross,
    Star,
}
const SHAPES: [Shape; 8] = [Shape::Circle, Shape::Square, Shape::TriUp, Shape::Diamond, Shape::TriDown, Shape::Plus, Shape::Cross, Shape::Star];

/// Everything that tells one series from another.
#[derive(Clone, Copy)]
struct Look {
    color: RGBColor,
    width: u32,
    dash: &'static [f64],
    shape: Shape,
    radius: f64,
    filled: bool,
}

fn look(role: Role, normal_index: usize) -> Look {
    match role {
        Role::Baseline => Look { color: BLACK, width: 4, dash: &[], shape: Shape::Circle, radius: 5.5, filled: true },
        Role::Reference => Look { color: RGBColor(110, 110, 110), width: 2, dash: &[10.0, 5.0], shape: Shape::Square, radius: 4.5, filled: true },
        Role::Normal => {
            let i = normal_index;
            Look { color: PALETTE[i % 10], width: 2, dash: DASHES[i % 4], shape: SHAPES[i % 8], radius: 4.5, filled: false }
        }
    }
}

fn looks(series: &[Series]) -> Vec<Look> {
    let mut normal = 0;
    series
        .iter()
        .map(|s| {
            let l = look(s.role, normal);
            normal += (s.role == Role::Normal) as usize;
            l
        })
        .collect()
}

type Area<DB> = DrawingArea<DB, Shift>;
type Res<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;
type Coords = Cartesian2d<Axis, Axis>;
type Rect = (i32, i32, i32, i32);

/// A linear f64 axis with ticks chosen here. (plotters' `WithKeyPoints` would do, but it offers
/// no label formatter for f64.)
struct Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Axis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, (a, b): (i32, i32)) -> i32 {
        a + ((v - self.lo) / (self.hi - self.lo) * (b - a) as f64).round() as i32
    }
    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // No minor grid: light points are only asked for when the hint allows them.
        if hint.weight().allow_light_points() { Vec::new() } else { self.ticks.clone() }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

fn register_font() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // The embedded file is a valid TrueType font; a failure would show as a drawing error.
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES);
    });
}

fn validate(chart: Chart, path: &Path) -> Result<(), PlotError> {
    let bad = |series: &str, index, field| PlotError::NonFinite { path: path.to_path_buf(), series: series.to_string(), index, field };
    let ci_ok = |ci: Option<(f64, f64)>| ci.is_none_or(|(a, b)| a.is_finite() && b.is_finite());
    let thresholds = match chart {
        Chart::Line(c) => {
            if !c.y_range.0.is_finite() || !c.y_range.1.is_finite() {
                return Err(bad("y_range", 0, "range"));
            }
            for s in &c.series {
                for (i, p) in s.points.iter().enumerate() {
                    let field = if !p.x.is_finite() { "x" } else if !p.y.is_finite() { "y" } else if !ci_ok(p.ci) { "ci" } else { continue };
                    return Err(bad(&s.label, i, field));
                }
            }
            &c.thresholds
        }
        Chart::Scatter(c) => {
            for (i, p) in c.points.iter().enumerate() {
                let field = if !p.x.is_finite() { "x" } else if !p.y.is_finite() { "y" } else if !ci_ok(p.ci) { "ci" } else { continue };
                return Err(bad(&p.label, i, field));
            }
            &c.thresholds
        }
    };
    match thresholds.iter().position(|t| !t.y.is_finite()) {
        Some(i) => Err(bad(&format!("threshold {}", thresholds[i].label), i, "y")),
        None => Ok(()),
    }
}

fn svg(chart: Chart, path: &Path) -> Result<String, PlotError> {
    validate(chart, path)?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, (W, H)).into_drawing_area();
        draw(chart, &root).and_then(|_| root.present()).map_err(|e| draw_err(path, e))?;
    }
    Ok(s)
}

fn png(chart: Chart, path: &Path) -> Result<Vec<u8>, PlotError> {
    validate(chart, path)?;
    let mut buf = vec![255u8; (W * H * 3) as usize];
    {
        let root = Png(BitMapBackend::with_buffer(&mut buf, (W, H))).into_drawing_area();
        draw(chart, &root).and_then(|_| root.present()).map_err(|e| draw_err(path, e))?;
    }
    let mut out = Vec::new();
    image::ImageEncoder::write_image(image::codecs::png::PngEncoder::new(&mut out), &buf, W, H, image::ExtendedColorType::Rgb8)
        .map_err(|source| PlotError::Png { path: path.to_path_buf(), source })?;
    Ok(out)
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw { path: path.to_path_buf(), message: e.to_string() }
}

fn write_both(chart: Chart, stem: &Path) -> Result<(), PlotError> {
    // A stem like `fgsm_eps0.1` must keep its `.1`, so extensions are appended, not substituted.
    let stem = match stem.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => stem.with_extension(""),
        _ => stem.to_path_buf(),
    };
    let with = |ext: &str| {
        let mut s = stem.clone().into_os_string();
        s.push(ext);
        PathBuf::from(s)
    };
    let (svg_path, png_path) = (with(".svg"), with(".png"));
    // Render both before writing either, so a failure leaves no half-updated pair.
    let svg_text = svg(chart, &svg_path)?;
    let png_bytes = png(chart, &png_path)?;
    write_atomic(&svg_path, svg_text.as_bytes())?;
    write_atomic(&png_path, &png_bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    use std::io::Write;
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let io = |source| PlotError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(io)?;
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
    let result = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all())).and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn draw<DB: DrawingBackend>(chart: Chart, root: &Area<DB>) -> Res<DB> {
    register_font();
    root.fill(&WHITE)?;
    match chart {
        Chart::Line(c) => draw_line(c, root),
        Chart::Scatter(c) => draw_scatter(c, root),
    }
}

fn font() -> Option<&'static ab_glyph::FontRef<'static>> {
    static F: std::sync::OnceLock<Option<ab_glyph::FontRef<'static>>> = std::sync::OnceLock::new();
    F.get_or_init(|| ab_glyph::FontRef::try_from_slice(FONT_BYTES).ok()).as_ref()
}

/// The font scaled so that `size` is the em, as in SVG's `font-size` (ab_glyph's own scale is
/// ascent − descent, which would draw DejaVu ~14 % smaller than a browser does).
fn scaled(f: &'static ab_glyph::FontRef<'static>, size: f64) -> ab_glyph::PxScaleFont<&'static ab_glyph::FontRef<'static>> {
    use ab_glyph::Font;
    let em = f.units_per_em().unwrap_or(2048.0);
    f.as_scaled(size as f32 * f.height_unscaled() / em)
}

/// Advance width of `s` in pixels at `size`.
fn text_w(s: &str, size: u32) -> i32 {
    use ab_glyph::{Font, ScaleFont};
    let Some(f) = font() else { return s.chars().count() as i32 * size as i32 * 3 / 5 };
    let sf = scaled(f, size as f64);
    let mut prev = None;
    let w: f32 = s.chars().map(|c| {
        let id = f.glyph_id(c);
        let k = prev.map_or(0.0, |p| sf.kern(p, id));
        prev = Some(id);
        k + sf.h_advance(id)
    }).sum();
    w.ceil() as i32
}

/// `s` shortened with an ellipsis to at most `max` pixels.
fn fit(s: &str, size: u32, max: i32) -> String {
    if text_w(s, size) <= max {
        return s.to_string();
    }
    let mut chars: Vec<char> = s.chars().collect();
    while !chars.is_empty() && text_w(&format!("{}…", chars.iter().collect::<String>()), size) > max {
        chars.pop();
    }
    format!("{}…", chars.iter().collect::<String>())
}

/// Text vertically centred on `y`.
fn put<DB: DrawingBackend>(a: &Area<DB>, s: &str, (x, y): (i32, i32), size: u32, h: HPos, color: RGBColor) -> Res<DB> {
    let style = (FONT, size).into_font().color(&color).pos(Pos::new(h, VPos::Center));
    a.draw(&Text::new(s.to_string(), (x, y), style))
}

/// `BitMapBackend` with its own text: plotters' ab_glyph path drops each glyph's left side bearing
/// (uneven letter spacing) and uses the smaller scale noted at [`scaled`]. Text is placed by the
/// SVG backend's rules (baseline 0.76 em below a top anchor, 0.5 ex below a centre anchor) so the
/// two outputs agree.
struct Png<'a>(BitMapBackend<'a>);

type BitmapErr = <BitMapBackend<'static> as DrawingBackend>::ErrorType;
type BRes = Result<(), DrawingErrorKind<BitmapErr>>;

impl DrawingBackend for Png<'_> {
    type ErrorType = BitmapErr;
    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> BRes {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> BRes {
        self.0.present()
    }
    fn draw_pixel(&mut self, p: BackendCoord, c: BackendColor) -> BRes {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(&mut self, a: BackendCoord, b: BackendCoord, s: &S) -> BRes {
        self.0.draw_line(a, b, s)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(&mut self, a: BackendCoord, b: BackendCoord, s: &S, fill: bool) -> BRes {
        self.0.draw_rect(a, b, s, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, s: &S) -> BRes {
        self.0.draw_path(path, s)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(&mut self, c: BackendCoord, r: u32, s: &S, fill: bool) -> BRes {
        self.0.draw_circle(c, r, s, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, v: I, s: &S) -> BRes {
        self.0.fill_polygon(v, s)
    }
    fn draw_text<T: BackendTextStyle>(&mut self, text: &str, style: &T, pos: BackendCoord) -> BRes {
        use ab_glyph::{Font, ScaleFont};
        let (Some(f), color) = (font(), style.color()) else { return Ok(()) };
        let size = style.size();
        let sf = scaled(f, size);
        let w = text_w(text, size.round() as u32) as f32;
        let x0 = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Center => -w / 2.0,
            HPos::Right => -w,
        };
        let x_height = f.glyph_bounds(&f.glyph_id('x').with_scale(sf.scale())).height() / 2.0;
        let base = match style.anchor().v_pos {
            VPos::Top => 0.76 * size as f32,
            VPos::Center => x_height,
            VPos::Bottom => -x_height,
        };
        let (trans, (pw, ph)) = (style.transform(), self.get_size());
        let (mut pen, mut prev) = (x0, None);
        for c in text.chars() {
            let id = f.glyph_id(c);
            pen += prev.map_or(0.0, |p| sf.kern(p, id));
            prev = Some(id);
            let glyph = id.with_scale_and_position(sf.scale(), ab_glyph::point(pen, base));
            pen += sf.h_advance(id);
            let Some(outline) = f.outline_glyph(glyph) else { continue };
            let b = outline.px_bounds();
            let mut px = Vec::new();
            outline.draw(|gx, gy, cov| px.push((b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov)));
            for (gx, gy, cov) in px {
                let (tx, ty) = trans.transform(gx, gy);
                let (x, y) = (pos.0 + tx, pos.1 + ty);
                if cov > 0.0 && x >= 0 && y >= 0 && (x as u32) < pw && (y as u32) < ph {
                    self.0.draw_pixel((x, y), BackendColor { alpha: color.alpha * cov.min(1.0) as f64, rgb: color.rgb })?;
                }
            }
        }
        Ok(())
    }
}

/// Compact tick text: 0.02, not 0.0200000; 5 significant digits at most.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..7).contains(&mag) {
        return format!("{v:.2e}");
    }
    let s = format!("{v:.*}", (4 - mag).max(0) as usize);
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// About six round ticks covering `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 6.0;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p);
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    (a..=b).map(|k| k as f64 * step).collect()
}

/// Padded `(lo, hi)` of the values; never empty or zero-width.
fn span(vals: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    if lo == hi {
        let d = if lo == 0.0 { 1.0 } else { lo.abs() * 0.5 };
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * pad;
    (lo - d, hi + d)
}

/// Keeps ticks whose labels do not touch the previous kept one (`px` maps a value to pixels).
fn thin_ticks(ticks: Vec<f64>, px: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut kept: Vec<f64> = Vec::new();
    let mut right = f64::NEG_INFINITY;
    for v in ticks {
        let half = text_w(&fmt_num(v), 13) as f64 / 2.0 + 4.0;
        if px(v) - half >= right {
            right = px(v) + half;
            kept.push(v);
        }
    }
    kept
}

/// Draws the title; returns the plot area (left) and the legend area (right).
fn split<DB: DrawingBackend>(root: &Area<DB>, title: &str, legend_w: i32) -> Result<(Area<DB>, Area<DB>), DrawingAreaErrorKind<DB::ErrorType>> {
    put(root, &fit(title, 17, W as i32 - 20), (W as i32 / 2, 18), 17, HPos::Center, BLACK)?;
    Ok(root.margin(34, 0, 0, 0).split_horizontally(W as i32 - legend_w))
}

/// Axes, ticks and grid on `plot`; `x`, `y` are (lo, hi, ticks).
fn frame<'a, DB: DrawingBackend>(
    plot: &'a Area<DB>,
    (x_label, y_label): (&str, &str),
    x: (f64, f64, Vec<f64>),
    y: (f64, f64, Vec<f64>),
) -> Result<ChartContext<'a, DB, Coords>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (left, right) = (70, 14);
    let plot_w = (plot.dim_in_pixel().0 as i32 - left - right) as f64;
    let x_ticks = thin_ticks(x.2, |v| (v - x.0) / (x.1 - x.0) * plot_w);
    let mut chart = ChartBuilder::on(plot)
        .margin_top(8)
        .margin_right(right as u32)
        .margin_bottom(6)
        .x_label_area_size(44)
        .y_label_area_size(left as u32)
        .build_cartesian_2d(Axis { lo: x.0, hi: x.1, ticks: x_ticks }, Axis { lo: y.0, hi: y.1, ticks: y.2 })?;
    let fmt = |v: &f64| fmt_num(*v);
    chart
        .configure_mesh()
        .x_desc(fit(x_label, 14, plot_w as i32))
        .y_desc(fit(y_label, 14, H as i32 - 120))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()?;
    Ok(chart)
}

/// Splits a pixel polyline into the "on" pieces of a dash pattern, continuing it across vertices.
fn dashes(pts: &[(f64, f64)], pattern: &[f64]) -> Vec<Vec<(f64, f64)>> {
    if pattern.is_empty() || pts.len() < 2 {
        return vec![pts.to_vec()];
    }
    let (mut out, mut cur) = (Vec::new(), vec![pts[0]]);
    let (mut k, mut left) = (0, pattern[0]);
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let len = (x1 - x0).hypot(y1 - y0);
        let mut at = 0.0;
        while len - at > left {
            at += left;
            let p = (x0 + (x1 - x0) * at / len, y0 + (y1 - y0) * at / len);
            if k % 2 == 0 {
                cur.push(p);
                out.push(std::mem::take(&mut cur));
            } else {
                cur = vec![p];
            }
            k = (k + 1) % pattern.len();
            left = pattern[k];
        }
        left -= len - at;
        if k % 2 == 0 {
            cur.push((x1, y1));
        }
    }
    if k % 2 == 0 && cur.len() > 1 {
        out.push(cur);
    }
    out
}

fn polyline<DB: DrawingBackend>(a: &Area<DB>, pts: &[(f64, f64)], dash: &[f64], style: ShapeStyle) -> Res<DB> {
    for piece in dashes(pts, dash) {
        let px: Vec<(i32, i32)> = piece.iter().map(|&(x, y)| (x.round() as i32, y.round() as i32)).collect();
        a.draw(&PathElement::new(px, style))?;
    }
    Ok(())
}

fn outline(shape: Shape, (cx, cy): (i32, i32), r: f64) -> Vec<(i32, i32)> {
    let ring = |n: usize, radii: &[f64], turn: f64| -> Vec<(f64, f64)> {
        (0..n).map(|i| {
            let a = turn + std::f64::consts::TAU * i as f64 / n as f64;
            let q = radii[i % radii.len()];
            (q * a.sin(), -q * a.cos())
        }).collect()
    };
    let (a, b) = (1.0, 0.38);
    let plus = [(-b, -a), (b, -a), (b, -b), (a, -b), (a, b), (b, b), (b, a), (-b, a), (-b, b), (-a, b), (-a, -b), (-b, -b)];
    let unit: Vec<(f64, f64)> = match shape {
        Shape::Circle => ring(12, &[1.0], 0.0),
        Shape::Square => vec![(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
        Shape::TriUp => ring(3, &[1.2], 0.0).iter().map(|&(x, y)| (x, y + 0.2)).collect(),
        Shape::Diamond => vec![(0.0, -1.25), (1.0, 0.0), (0.0, 1.25), (-1.0, 0.0)],
        Shape::TriDown => ring(3, &[1.2], std::f64::consts::PI).iter().map(|&(x, y)| (x, y - 0.2)).collect(),
        Shape::Plus => plus.iter().map(|&(x, y)| (x * 1.2, y * 1.2)).collect(),
        Shape::Cross => plus.iter().map(|&(x, y)| ((x - y) * 0.85, (x + y) * 0.85)).collect(),
        Shape::Star => ring(10, &[1.3, 0.55], 0.0),
    };
    unit.iter().map(|&(x, y)| (cx + (x * r).round() as i32, cy + (y * r).round() as i32)).collect()
}

/// One `<polygon>` per marker (tests count them), plus an outline for open markers.
fn marker<DB: DrawingBackend>(a: &Area<DB>, at: (i32, i32), l: &Look) -> Res<DB> {
    let pts = outline(l.shape, at, l.radius);
    let fill = if l.filled { l.color.to_rgba() } else { l.color.mix(0.18) };
    a.draw(&Polygon::new(pts.clone(), fill.filled()))?;
    if !l.filled {
        let mut ring = pts;
        ring.push(ring[0]);
        a.draw(&PathElement::new(ring, l.color.stroke_width(2)))?;
    }
    Ok(())
}

fn error_bar<DB: DrawingBackend>(a: &Area<DB>, x: i32, (y0, y1): (i32, i32), color: RGBColor) -> Res<DB> {
    let s = color.mix(0.75).stroke_width(1);
    a.draw(&PathElement::new(vec![(x, y0), (x, y1)], s))?;
    a.draw(&PathElement::new(vec![(x - 3, y0), (x + 3, y0)], s))?;
    a.draw(&PathElement::new(vec![(x - 3, y1), (x + 3, y1)], s))
}

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn inside(a: Rect, b: Rect) -> bool {
    a.0 >= b.0 && a.1 >= b.1 && a.2 <= b.2 && a.3 <= b.3
}

/// Threshold lines across the plot; labels at the right end (else left, else below the line),
/// placed clear of each other. Returns the label boxes for later collision checks.
fn thresholds<DB: DrawingBackend>(a: &Area<DB>, chart: &ChartContext<DB, Coords>, ts: &[Threshold], labels: bool) -> Result<Vec<Rect>, DrawingAreaErrorKind<DB::ErrorType>> {
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let bounds = (xr.start, yr.start, xr.end, yr.end);
    let (x_lo, x_hi) = (chart.x_range().start, chart.x_range().end);
    let mut order: Vec<&Threshold> = ts.iter().collect();
    order.sort_by(|p, q| q.y.total_cmp(&p.y));
    let mut boxes: Vec<Rect> = Vec::new();
    for th in order {
        let (y_lo, y_hi) = (chart.y_range().start, chart.y_range().end);
        if th.y < y_lo || th.y > y_hi {
            continue;
        }
        let py = chart.backend_coord(&(x_lo, th.y)).1;
        if !labels {
            polyline(a, &[(chart.backend_coord(&(x_lo, th.y)).0 as f64, py as f64), (chart.backend_coord(&(x_hi, th.y)).0 as f64, py as f64)], &[6.0, 4.0], THRESHOLD.stroke_width(1))?;
            continue;
        }
        let text = fit(&th.label, 12, (bounds.2 - bounds.0) / 2);
        let (w, h) = (text_w(&text, 12) + 8, 16);
        let candidates = [(bounds.2 - 4 - w, py - 2 - h), (bounds.0 + 4, py - 2 - h), (bounds.2 - 4 - w, py + 2), (bounds.0 + 4, py + 2)];
        let place = candidates.iter().map(|&(x, y)| (x, y, x + w, y + h)).find(|r| inside(*r, bounds) && !boxes.iter().any(|b| overlaps(*r, *b)));
        let r = place.unwrap_or((candidates[0].0, candidates[0].1, candidates[0].0 + w, candidates[0].1 + h));
        a.draw(&Rectangle::new([(r.0, r.1), (r.2, r.3)], WHITE.mix(0.85).filled()))?;
        put(a, &text, (r.0 + 4, (r.1 + r.3) / 2), 12, HPos::Left, THRESHOLD)?;
        boxes.push(r);
    }
    Ok(boxes)
}

/// Legend rows (line sample with dash and marker, then label) in the right-hand area.
fn legend<DB: DrawingBackend>(a: &Area<DB>, rows: &[(String, Look)], max_text: i32) -> Res<DB> {
    let x0 = 4;
    let step = if rows.is_empty() { 20 } else { (((H as i32) - 100) / rows.len() as i32).clamp(8, 22) };
    for (i, (label, l)) in rows.iter().enumerate() {
        let y = 16 + step * i as i32;
        if l.width > 0 {
            polyline(a, &[(x0 as f64, y as f64), ((x0 + 34) as f64, y as f64)], l.dash, l.color.stroke_width(l.width))?;
        }
        marker(a, (x0 + 17, y), l)?;
        put(a, &fit(label, 13, max_text), (x0 + 42, y), 13, HPos::Left, BLACK)?;
    }
    Ok(())
}

fn legend_width(labels: impl Iterator<Item = String>) -> (i32, i32) {
    let text = labels.map(|s| text_w(&s, 13)).max().unwrap_or(0).min(210);
    (text + 56, text)
}

fn draw_line<DB: DrawingBackend>(c: &LineChart, root: &Area<DB>) -> Res<DB> {
    let all = || c.series.iter().flat_map(|s| s.points.iter());
    let x = span(all().map(|p| p.x), 0.04);
    let y = span([c.y_range.0, c.y_range.1].into_iter().chain(all().map(|p| p.y)), 0.0);
    let mut xs: Vec<f64> = all().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let x_ticks = if (1..=12).contains(&xs.len()) { xs } else { nice_ticks(x.0, x.1) };
    let (legend_w, max_text) = legend_width(c.series.iter().map(|s| s.label.clone()));
    let (plot, legend_area) = split(root, &c.title, legend_w)?;
    let chart = frame(&plot, (&c.x_label, &c.y_label), (x.0, x.1, x_ticks), (y.0, y.1, nice_ticks(y.0, y.1)))?;
    thresholds(root, &chart, &c.thresholds, false)?;
    let looks = looks(&c.series);
    // Thick baselines first, thin series on top, so exactly coinciding lines all stay visible.
    let mut order: Vec<usize> = (0..c.series.len()).collect();
    order.sort_by_key(|&i| match c.series[i].role {
        Role::Baseline => 0,
        Role::Reference => 1,
        Role::Normal => 2,
    });
    let px = |p: &Point| chart.backend_coord(&(p.x, p.y));
    for &i in &order {
        let mut sorted: Vec<&Point> = c.series[i].points.iter().collect();
        sorted.sort_by(|a, b| a.x.total_cmp(&b.x));
        let pts: Vec<(f64, f64)> = sorted.iter().map(|p| px(p)).map(|(a, b)| (a as f64, b as f64)).collect();
        polyline(root, &pts, looks[i].dash, looks[i].color.stroke_width(looks[i].width))?;
    }
    let n = c.series.len() as i32;
    for &i in &order {
        let dodge = 2 * i as i32 - (n - 1);
        for p in &c.series[i].points {
            if let Some((lo, hi)) = p.ci {
                let (a, b) = (lo.clamp(y.0, y.1), hi.clamp(y.0, y.1));
                error_bar(root, px(p).0 + dodge, (chart.backend_coord(&(p.x, a)).1, chart.backend_coord(&(p.x, b)).1), looks[i].color)?;
            }
        }
    }
    for &i in &order {
        for p in &c.series[i].points {
            marker(root, px(p), &looks[i])?;
        }
    }
    thresholds(root, &chart, &c.thresholds, true)?;
    let rows: Vec<(String, Look)> = c.series.iter().zip(&looks).map(|(s, l)| (s.label.clone(), *l)).collect();
    legend(&legend_area, &rows, max_text)
}

fn draw_scatter<DB: DrawingBackend>(c: &ScatterChart, root: &Area<DB>) -> Res<DB> {
    let x = span(c.points.iter().map(|p| p.x), 0.06);
    let ys = c.points.iter().flat_map(|p| [p.y, p.ci.map_or(p.y, |c| c.0), p.ci.map_or(p.y, |c| c.1)]);
    let y = span(ys.chain(c.thresholds.iter().map(|t| t.y)), 0.06);
    let front = Look { color: PALETTE[0], width: 2, dash: &[], shape: Shape::Circle, radius: 5.0, filled: true };
    let other = Look { color: RGBColor(120, 120, 120), width: 0, dash: &[], shape: Shape::Circle, radius: 4.0, filled: false };
    let mut rows = Vec::new();
    if c.points.iter().any(|p| p.front) {
        rows.push(("Pareto front".to_string(), front));
    }
    if c.points.iter().any(|p| !p.front) {
        rows.push(("other".to_string(), other));
    }
    let (legend_w, max_text) = legend_width(rows.iter().map(|r| r.0.clone()));
    let (plot, legend_area) = split(root, &c.title, legend_w)?;
    let chart = frame(&plot, (&c.x_label, &c.y_label), (x.0, x.1, nice_ticks(x.0, x.1)), (y.0, y.1, nice_ticks(y.0, y.1)))?;
    thresholds(root, &chart, &c.thresholds, false)?;
    let px = |p: &ScatterPoint| chart.backend_coord(&(p.x, p.y));
    let mut fr: Vec<&ScatterPoint> = c.points.iter().filter(|p| p.front).collect();
    fr.sort_by(|a, b| a.x.total_cmp(&b.x));
    let line: Vec<(f64, f64)> = fr.iter().map(|p| px(p)).map(|(a, b)| (a as f64, b as f64)).collect();
    polyline(root, &line, &[], front.color.stroke_width(2))?;
    for p in &c.points {
        if let Some((lo, hi)) = p.ci {
            let l = if p.front { front } else { other };
            error_bar(root, px(p).0, (chart.backend_coord(&(p.x, lo)).1, chart.backend_coord(&(p.x, hi)).1), l.color)?;
        }
    }
    // Front markers last, so they sit on top of the others.
    for p in c.points.iter().filter(|p| !p.front).chain(c.points.iter().filter(|p| p.front)) {
        marker(root, px(p), if p.front { &front } else { &other })?;
    }
    let mut taken = thresholds(root, &chart, &c.thresholds, true)?;
    taken.extend(c.points.iter().map(|p| {
        let (a, b) = px(p);
        (a - 6, b - 6, a + 6, b + 6)
    }));
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    let bounds = (xr.start, yr.start, xr.end, yr.end);
    let labelled = c.points.iter().filter(|p| p.front).chain(c.points.iter().filter(|p| !p.front && c.label_all));
    for p in labelled {
        let text = fit(&p.label, 11, 150);
        let (w, h, (a, b)) = (text_w(&text, 11) + 2, 14, px(p));
        let spots = [(a + 8, b - h / 2), (a - 8 - w, b - h / 2), (a - w / 2, b - 8 - h), (a - w / 2, b + 8), (a + 6, b - 6 - h), (a + 6, b + 6), (a - 6 - w, b - 6 - h), (a - 6 - w, b + 6)];
        let free = spots.iter().map(|&(x, y)| (x, y, x + w, y + h)).find(|r| inside(*r, bounds) && !taken.iter().any(|q| overlaps(*r, *q)));
        if let Some(r) = free {
            put(root, &text, (r.0 + 1, (r.1 + r.3) / 2), 11, HPos::Left, RGBColor(40, 40, 40))?;
            taken.push(r);
        }
    }
    legend(&legend_area, &rows, max_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(fmt_num(0.02), "0.02");
        assert_eq!(fmt_num(0.1 + 0.2), "0.3");
        assert_eq!(fmt_num(100.0), "100");
        assert_eq!(fmt_num(-2.5), "-2.5");
        assert_eq!(fmt_num(8.0 / 255.0), "0.031373");
        assert_eq!(fmt_num(1e-9), "1.00e-9");
    }

    #[test]
    fn dash_pattern_alternates_and_spans_vertices() {
        let d = dashes(&[(0.0, 0.0), (5.0, 0.0), (10.0, 0.0)], &[4.0, 2.0]);
        assert_eq!(d, vec![vec![(0.0, 0.0), (4.0, 0.0)], vec![(6.0, 0.0), (10.0, 0.0)]]);
        assert_eq!(dashes(&[(0.0, 0.0), (3.0, 4.0)], &[]).len(), 1);
    }

    #[test]
    fn ticks_are_round_and_cover() {
        assert_eq!(nice_ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(span(std::iter::once(3.0), 0.1), (1.5, 4.5));
        assert_eq!(span(std::iter::empty(), 0.1), (0.0, 1.0));
    }
}
