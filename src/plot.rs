//! Charts for studies: robust accuracy against ε ([`LineChart`]) and accuracy against cost with a
//! Pareto front ([`ScatterChart`]), each written as SVG and PNG (900×560) through `plotters`; and
//! the report's figures: the verdict heatmap ([`Heatmap`]), small multiples of robust accuracy
//! ([`Panels`]) and the recovery arrows ([`RecoveryChart`]), sized to their content.
//!
//! Colour-blind-safe palettes: a multiplier's series colour is from Okabe & Ito's *Color
//! Universal Design* palette (black reserved for the exact baseline), paired with one of eight
//! marker shapes and four dash patterns by its [`Ident`], so it looks the same in every figure of
//! a report; the heatmap's diverging scale is ColorBrewer's RdBu (red: less, blue: more).
//!
//! Fonts: DejaVu Sans (free licence, `assets/fonts/LICENSE`) is embedded with `include_bytes!`
//! and read by `ab_glyph`, so no fontconfig and no installed font is needed at run time: a fresh
//! CI machine renders the same pixels as a developer's, for ~740 KB of binary. plotters uses it
//! (its `ab_glyph` feature, family `sans-serif`) to measure text for layout; the PNG backend here
//! draws the glyphs itself, because plotters' ab_glyph drawing ignores side bearings (uneven
//! letter spacing) and scales text ~14 % smaller than its SVG output. SVG text names `sans-serif`
//! and leaves the face to the viewer; sizes and widths are computed with the same metrics.
//!
//! Layout rules, so overlapping series stay readable:
//! - the legend sits outside the plot area, on the right, so it never covers data;
//! - the [`Role::Baseline`] is drawn first, thick and black, so series that coincide with it
//!   exactly, drawn thinner on top, stay visible; [`Role::Reference`] is gray and dashed;
//!   [`Role::Normal`] series cycle 10 colours × 8 marker shapes × 4 dash patterns;
//! - open markers have a light tint, so coinciding markers of different shapes all show;
//! - the error bars of series `i` of `n` are shifted right by `2i − (n−1)` pixels, a
//!   deterministic dodge (the markers stay at the true x) so coinciding intervals stay apart;
//! - x ticks sit at the data's x values when there are at most 12 distinct ones (a tick whose
//!   label would touch its left neighbour's is dropped), else at round values;
//! - threshold labels avoid each other and, where they can, markers; scatter labels never cover
//!   a marker or another label and prefer spots crossing no line. A label that fits nowhere is
//!   left out (front points are labelled first): overlapping text is unreadable anyway.
//!
//! Output is deterministic: same input → byte-identical SVG and PNG. Every marker is exactly one
//! `<polygon>` in the SVG (one per point, then one per legend entry), which the tests count.

use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

mod heatmap;
mod panels;
mod recovery;
pub use heatmap::{HeatCell, HeatRow, Heatmap};
pub use panels::{PanelSeries, Panels};
pub use recovery::{Recovered, RecoveryChart};

/// Who a series is, so that it is drawn alike in every figure of a report: the exact baseline
/// (thick black, its interval a band), the float model (gray, dashed) or the `i`-th multiplier of
/// the report's fixed order (Okabe–Ito colour `i mod 7`, shape `i mod 8`, dash `i mod 4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ident {
    /// The exact multiplier.
    Exact,
    /// The float model.
    Float,
    /// The `i`-th multiplier of the report.
    Multiplier(usize),
}

/// How a series is drawn: the exact (reference hardware) baseline distinctly (thick black), the float model dashed, others in a palette with distinct markers and dash patterns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The exact-hardware baseline: drawn first, thick and black.
    Baseline,
    /// The float model: gray and dashed.
    Reference,
    /// Any other series: palette colour, marker and dash pattern.
    Normal,
}

/// One point of a line series.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The x value (e.g. ε).
    pub x: f64,
    /// The y value (e.g. robust accuracy).
    pub y: f64,
    /// 95 % interval of y, drawn as an error bar
    pub ci: Option<(f64, f64)>,
}

/// Points are joined in x order.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend text.
    pub label: String,
    /// How the series is drawn.
    pub role: Role,
    /// The points (joined in x order).
    pub points: Vec<Point>,
}

/// A labelled horizontal line (e.g. the paper's 90 % accuracy threshold).
#[derive(Debug, Clone, PartialEq)]
pub struct Threshold {
    /// Height of the line, in y units.
    pub y: f64,
    /// Text shown beside the line.
    pub label: String,
}

/// A chart of series over x (e.g. robust accuracy against ε).
#[derive(Debug, Clone, PartialEq)]
pub struct LineChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// Widened (never narrowed) to hold every point's y; intervals are clipped to it.
    pub y_range: (f64, f64),
    /// The series, in legend order.
    pub series: Vec<Series>,
    /// Horizontal lines to draw.
    pub thresholds: Vec<Threshold>,
}

/// One point of a scatter chart.
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterPoint {
    /// The x value (e.g. a cost).
    pub x: f64,
    /// The y value (e.g. accuracy).
    pub y: f64,
    /// Text placed next to the marker (front points only unless `label_all`; left out where it
    /// does not fit).
    pub label: String,
    /// 95 % interval of y, drawn as an error bar.
    pub ci: Option<(f64, f64)>,
    /// on the Pareto front: drawn filled, joined by a line
    pub front: bool,
}

/// A scatter of labelled points with their Pareto front (e.g. accuracy against cost).
#[derive(Debug, Clone, PartialEq)]
pub struct ScatterChart {
    /// Title above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The points.
    pub points: Vec<ScatterPoint>,
    /// Horizontal lines to draw.
    pub thresholds: Vec<Threshold>,
    /// label every point (else only front points)
    pub label_all: bool,
}

/// `path` is the file being written (the `.svg` for input errors; a placeholder for `*_svg`).
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `series` names the series (line chart), the point's label (scatter), `threshold …` or `y_range`.
    #[error("{}: {series:?}, point {index}: {field} is not finite", path.display())]
    NonFinite {
        /// The chart file.
        path: PathBuf,
        /// Which series, point label, threshold or range.
        series: String,
        /// The point, 0-based.
        index: usize,
        /// The non-finite value (e.g. `x`, `y`).
        field: &'static str,
    },
    /// plotters failed to draw the chart.
    #[error("{}: drawing failed: {message}", path.display())]
    Draw {
        /// The chart file.
        path: PathBuf,
        /// plotters' error.
        message: String,
    },
    // `cause`, not `source`: the message already shows it (convention in src/error.rs).
    /// The PNG could not be encoded.
    #[error("{}: encoding PNG: {cause}", path.display())]
    Png {
        /// The PNG file.
        path: PathBuf,
        /// The encoder's error.
        cause: image::ImageError,
    },
    /// A chart file could not be written.
    #[error("{}: {cause}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        cause: std::io::Error,
    },
}

/// Writes `{stem}.svg` and `{stem}.png` (stem = path without extension), atomically (temp file + rename in the same folder).
/// The extensions are appended (a stem `fgsm_eps0.1` keeps its `.1`); a given `.svg`/`.png` is replaced.
pub fn line_chart(c: &LineChart, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Line(c), stem)
}

/// Writes `{stem}.svg` and `{stem}.png`, as [`line_chart`] does.
pub fn scatter_chart(c: &ScatterChart, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Scatter(c), stem)
}

/// Writes `{stem}.svg` and `{stem}.png`, as [`line_chart`] does.
pub fn heatmap(c: &Heatmap, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Heatmap(c), stem)
}

/// Writes `{stem}.svg` and `{stem}.png`, as [`line_chart`] does.
pub fn panels(c: &Panels, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Panels(c), stem)
}

/// Writes `{stem}.svg` and `{stem}.png`, as [`line_chart`] does.
pub fn recovery_chart(c: &RecoveryChart, stem: &Path) -> Result<(), PlotError> {
    write_both(Chart::Recovery(c), stem)
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn heatmap_svg(c: &Heatmap) -> Result<String, PlotError> {
    svg(Chart::Heatmap(c), Path::new("(in-memory SVG)"))
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn panels_svg(c: &Panels) -> Result<String, PlotError> {
    svg(Chart::Panels(c), Path::new("(in-memory SVG)"))
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn recovery_chart_svg(c: &RecoveryChart) -> Result<String, PlotError> {
    svg(Chart::Recovery(c), Path::new("(in-memory SVG)"))
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn line_chart_svg(c: &LineChart) -> Result<String, PlotError> {
    svg(Chart::Line(c), Path::new("(in-memory SVG)"))
}

/// Same, but return the SVG text (for tests and embedding) without writing.
pub fn scatter_chart_svg(c: &ScatterChart) -> Result<String, PlotError> {
    svg(Chart::Scatter(c), Path::new("(in-memory SVG)"))
}

const W: u32 = 900;
const H: u32 = 560;
const FONT: &str = "sans-serif";
const FONT_BYTES: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");
// Text sizes, em pixels.
const TITLE: u32 = 15;
const AXIS: u32 = 13;
const TICK: u32 = 12;
const LEGEND: u32 = 12;
const NOTE: u32 = 11;
const POINT: u32 = 10;
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
/// Okabe & Ito (2008), *Color Universal Design*: the palette without its black (the exact
/// baseline's), yellow last (weakest on white).
const OKABE_ITO: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(240, 228, 66),
];
/// On/off lengths in pixels; empty = solid.
const DASHES: [&[f64]; 4] = [&[], &[2.0, 3.0], &[9.0, 3.0, 2.0, 3.0], &[5.0, 3.0]];
const THRESHOLD: RGBColor = RGBColor(170, 30, 30);

#[derive(Clone, Copy)]
enum Chart<'a> {
    Line(&'a LineChart),
    Scatter(&'a ScatterChart),
    Heatmap(&'a Heatmap),
    Panels(&'a Panels),
    Recovery(&'a RecoveryChart),
}

impl Chart<'_> {
    /// Canvas size in pixels.
    fn size(self) -> (u32, u32) {
        match self {
            Chart::Heatmap(c) => heatmap::size(c),
            Chart::Panels(c) => panels::size(c),
            _ => (W, H),
        }
    }
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
const SHAPES: [Shape; 8] = [
    Shape::Circle,
    Shape::Square,
    Shape::TriUp,
    Shape::Diamond,
    Shape::TriDown,
    Shape::Plus,
    Shape::Cross,
    Shape::Star,
];

/// Everything that tells one series from another (`width` 0: no line).
#[derive(Clone, Copy)]
struct Look {
    color: RGBColor,
    width: u32,
    dash: &'static [f64],
    shape: Shape,
    radius: f64,
    filled: bool,
}

/// How the series of `id` is drawn in the report's figures.
fn look_of(id: Ident) -> Look {
    match id {
        Ident::Exact => Look { color: BLACK, width: 4, dash: &[], shape: Shape::Circle, radius: 5.0, filled: true },
        Ident::Float => Look {
            color: RGBColor(110, 110, 110),
            width: 2,
            dash: &[8.0, 4.0],
            shape: Shape::Square,
            radius: 4.0,
            filled: true,
        },
        Ident::Multiplier(i) => Look {
            color: OKABE_ITO[i % OKABE_ITO.len()],
            width: 2,
            dash: DASHES[i % DASHES.len()],
            shape: SHAPES[i % SHAPES.len()],
            radius: 4.5,
            filled: false,
        },
    }
}

fn looks(series: &[Series]) -> Vec<Look> {
    let mut normal = 0;
    series
        .iter()
        .map(|s| match s.role {
            Role::Baseline => {
                Look { color: BLACK, width: 4, dash: &[], shape: Shape::Circle, radius: 5.5, filled: true }
            }
            Role::Reference => Look {
                color: RGBColor(110, 110, 110),
                width: 2,
                dash: &[10.0, 5.0],
                shape: Shape::Square,
                radius: 4.5,
                filled: true,
            },
            Role::Normal => {
                normal += 1;
                let i = normal - 1;
                Look {
                    color: PALETTE[i % 10],
                    width: 2,
                    dash: DASHES[i % 4],
                    shape: SHAPES[i % 8],
                    radius: 4.5,
                    filled: false,
                }
            }
        })
        .collect()
}

type Area<DB> = DrawingArea<DB, Shift>;
type DErr<DB> = DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>;
type Res<DB> = Result<(), DErr<DB>>;
type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<Axis, Axis>>;
type Rect = (i32, i32, i32, i32);

/// A linear f64 axis with ticks chosen here (plotters' `WithKeyPoints` has no f64 label formatter).
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
        // Light (minor) points are asked for separately; there is no minor grid.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

/// Every value a chart plots, as (series or label, index, x, y, interval), for [`validate`].
type Checked<'a> = Vec<(&'a str, usize, f64, f64, Option<(f64, f64)>)>;

fn validate(chart: Chart, path: &Path) -> Result<(), PlotError> {
    let bad = |series: &str, index, field| {
        Err(PlotError::NonFinite { path: path.to_path_buf(), series: series.to_string(), index, field })
    };
    let none: Vec<Threshold> = Vec::new();
    let (points, thresholds): (Checked, _) = match chart {
        Chart::Line(c) => {
            if !c.y_range.0.is_finite() || !c.y_range.1.is_finite() {
                return bad("y_range", 0, "range");
            }
            (
                c.series
                    .iter()
                    .flat_map(|s| s.points.iter().enumerate().map(|(i, p)| (s.label.as_str(), i, p.x, p.y, p.ci)))
                    .collect(),
                &c.thresholds,
            )
        }
        Chart::Scatter(c) => {
            (c.points.iter().enumerate().map(|(i, p)| (p.label.as_str(), i, p.x, p.y, p.ci)).collect(), &c.thresholds)
        }
        Chart::Heatmap(c) => (heatmap::checked(c), &none),
        Chart::Panels(c) => (panels::checked(c), &none),
        Chart::Recovery(c) => (recovery::checked(c), &c.thresholds),
    };
    for (label, i, x, y, ci) in points {
        let ci_ok = ci.is_none_or(|(a, b)| a.is_finite() && b.is_finite());
        let field = if !x.is_finite() {
            "x"
        } else if !y.is_finite() {
            "y"
        } else if !ci_ok {
            "ci"
        } else {
            continue;
        };
        return bad(label, i, field);
    }
    match thresholds.iter().position(|t| !t.y.is_finite()) {
        Some(i) => bad(&format!("threshold {}", thresholds[i].label), i, "y"),
        None => Ok(()),
    }
}

fn draw_err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw { path: path.to_path_buf(), message: e.to_string() }
}

fn svg(chart: Chart, path: &Path) -> Result<String, PlotError> {
    validate(chart, path)?;
    let mut s = String::new();
    {
        let root = SVGBackend::with_string(&mut s, chart.size()).into_drawing_area();
        draw(chart, &root).and_then(|_| root.present()).map_err(|e| draw_err(path, e))?;
    }
    Ok(s)
}

fn png(chart: Chart, path: &Path) -> Result<Vec<u8>, PlotError> {
    validate(chart, path)?;
    let (w, h) = chart.size();
    let mut buf = vec![255u8; (w * h * 3) as usize];
    {
        let root = Png(BitMapBackend::with_buffer(&mut buf, (w, h))).into_drawing_area();
        draw(chart, &root).and_then(|_| root.present()).map_err(|e| draw_err(path, e))?;
    }
    // Encoded with the `image` crate the project already has (plotters' encoder would pull a second version).
    let mut out = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut out),
        &buf,
        w,
        h,
        image::ExtendedColorType::Rgb8,
    )
    .map_err(|cause| PlotError::Png { path: path.to_path_buf(), cause })?;
    Ok(out)
}

fn write_both(chart: Chart, stem: &Path) -> Result<(), PlotError> {
    let stem = match stem.extension().and_then(|e| e.to_str()) {
        Some("svg" | "png") => stem.with_extension(""),
        _ => stem.to_path_buf(),
    };
    let with = |ext: &str| {
        PathBuf::from({
            let mut s = stem.clone().into_os_string();
            s.push(ext);
            s
        })
    };
    let (svg_path, png_path) = (with(".svg"), with(".png"));
    // Both are rendered before either is written, so bad input leaves no half-updated pair.
    let (svg_text, png_bytes) = (svg(chart, &svg_path)?, png(chart, &png_path)?);
    write_atomic(&svg_path, svg_text.as_bytes())?;
    write_atomic(&png_path, &png_bytes)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), PlotError> {
    crate::util::write_atomic(path, bytes).map_err(|cause| PlotError::Io { path: path.to_path_buf(), cause })
}

fn draw<DB: DrawingBackend>(chart: Chart, root: &Area<DB>) -> Res<DB> {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // Cannot fail for the embedded font; if it did, plotters' text layout reports a drawing error.
    ONCE.call_once(|| drop(plotters::style::register_font(FONT, FontStyle::Normal, FONT_BYTES)));
    root.fill(&WHITE)?;
    match chart {
        Chart::Line(c) => draw_line(c, root),
        Chart::Scatter(c) => draw_scatter(c, root),
        Chart::Heatmap(c) => heatmap::draw(c, root),
        Chart::Panels(c) => panels::draw(c, root),
        Chart::Recovery(c) => recovery::draw(c, root),
    }
}

type Face = ab_glyph::FontRef<'static>;

fn face() -> Option<&'static Face> {
    static F: std::sync::OnceLock<Option<Face>> = std::sync::OnceLock::new();
    F.get_or_init(|| Face::try_from_slice(FONT_BYTES).ok()).as_ref()
}

/// plotters' font size is 1.24 em (its SVG backend writes `font-size` = size / 1.24).
fn desc(em: u32) -> FontDesc<'static> {
    (FONT, em as f64 * 1.24).into_font()
}

/// The face at an em of `em` pixels (ab_glyph's own scale is ascent − descent).
fn scaled(f: &'static Face, em: f64) -> ab_glyph::PxScaleFont<&'static Face> {
    use ab_glyph::Font;
    f.as_scaled(em as f32 * f.height_unscaled() / f.units_per_em().unwrap_or(2048.0))
}

/// Advance width of `s` in pixels.
fn text_w(s: &str, em: f64) -> i32 {
    use ab_glyph::{Font, ScaleFont};
    let Some(f) = face() else { return (s.chars().count() as f64 * em * 0.6) as i32 };
    let (sf, mut prev) = (scaled(f, em), None);
    let w: f32 = s
        .chars()
        .map(|c| {
            let id = f.glyph_id(c);
            let kern = prev.map_or(0.0, |p| sf.kern(p, id));
            prev = Some(id);
            kern + sf.h_advance(id)
        })
        .sum();
    w.ceil() as i32
}

/// `s`, shortened with an ellipsis to at most `max` pixels.
fn fit(s: &str, em: u32, max: i32) -> String {
    if text_w(s, em as f64) <= max {
        return s.to_string();
    }
    let mut t: String = s.to_string();
    while t.pop().is_some() && text_w(&format!("{t}…"), em as f64) > max {}
    format!("{t}…")
}

/// Text vertically centred on `y`.
fn put<DB: DrawingBackend>(a: &Area<DB>, s: &str, (x, y): (i32, i32), em: u32, h: HPos, color: RGBColor) -> Res<DB> {
    a.draw(&Text::new(s.to_string(), (x, y), desc(em).color(&color).pos(Pos::new(h, VPos::Center))))
}

use raster::Png;

/// In its own module because `BackendStyle::stroke_width` would shadow `Color::stroke_width`.
mod raster {
    use super::*;
    use plotters_backend::{BackendColor, BackendCoord, BackendStyle as BStyle, BackendTextStyle, DrawingErrorKind};

    /// `BitMapBackend` drawing its own text (see the module doc), placed by the SVG backend's rules
    /// (baseline 0.76 em below a top anchor, ½ x-height below a centre one) so both outputs agree.
    pub(super) struct Png<'a>(pub(super) BitMapBackend<'a>);

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
        fn draw_line<S: BStyle>(&mut self, a: BackendCoord, b: BackendCoord, s: &S) -> BRes {
            self.0.draw_line(a, b, s)
        }
        fn draw_rect<S: BStyle>(&mut self, a: BackendCoord, b: BackendCoord, s: &S, fill: bool) -> BRes {
            self.0.draw_rect(a, b, s, fill)
        }
        fn draw_path<S: BStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, path: I, s: &S) -> BRes {
            self.0.draw_path(path, s)
        }
        fn draw_circle<S: BStyle>(&mut self, c: BackendCoord, r: u32, s: &S, fill: bool) -> BRes {
            self.0.draw_circle(c, r, s, fill)
        }
        fn fill_polygon<S: BStyle, I: IntoIterator<Item = BackendCoord>>(&mut self, v: I, s: &S) -> BRes {
            self.0.fill_polygon(v, s)
        }
        fn draw_text<T: BackendTextStyle>(&mut self, text: &str, style: &T, pos: BackendCoord) -> BRes {
            use ab_glyph::{Font, ScaleFont};
            let (Some(f), color, em) = (face(), style.color(), style.size() / 1.24) else { return Ok(()) };
            let sf = scaled(f, em);
            let w = text_w(text, em) as f32;
            let x0 = match style.anchor().h_pos {
                HPos::Left => 0.0,
                HPos::Center => -w / 2.0,
                HPos::Right => -w,
            };
            let half_x = f
                .outline(f.glyph_id('x'))
                .map_or(0.27 * em as f32, |o| o.bounds.height().abs() * sf.v_scale_factor() / 2.0);
            let base = match style.anchor().v_pos {
                VPos::Top => 0.76 * em as f32,
                VPos::Center => half_x,
                VPos::Bottom => -half_x,
            };
            let (trans, (pw, ph)) = (style.transform(), self.get_size());
            let (mut pen, mut prev, mut px) = (x0, None, Vec::new());
            for c in text.chars() {
                let id = f.glyph_id(c);
                pen += prev.map_or(0.0, |p| sf.kern(p, id));
                prev = Some(id);
                let glyph = id.with_scale_and_position(sf.scale(), ab_glyph::point(pen, base));
                pen += sf.h_advance(id);
                if let Some(o) = f.outline_glyph(glyph) {
                    let b = o.px_bounds();
                    o.draw(|gx, gy, cov| px.push((b.min.x as i32 + gx as i32, b.min.y as i32 + gy as i32, cov)));
                }
            }
            for (gx, gy, cov) in px {
                let (tx, ty) = trans.transform(gx, gy);
                let (x, y) = (pos.0 + tx, pos.1 + ty);
                if cov > 0.0 && x >= 0 && y >= 0 && (x as u32) < pw && (y as u32) < ph {
                    self.0.draw_pixel(
                        (x, y),
                        BackendColor { alpha: color.alpha * cov.min(1.0) as f64, rgb: color.rgb },
                    )?;
                }
            }
            Ok(())
        }
    }
}

/// Compact tick text: 0.02, not 0.0200000; at most 5 significant digits.
fn fmt_num(v: f64) -> String {
    let trim = |s: String| if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    if !(-4..7).contains(&mag) {
        let s = format!("{v:.2e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        return format!("{}e{e}", trim(m.to_string()));
    }
    trim(format!("{v:.*}", (4 - mag).max(0) as usize))
}

/// About six round ticks within `lo..=hi`.
fn nice_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let raw = (hi - lo) / 6.0;
    let p = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * p).find(|s| *s >= raw).unwrap_or(10.0 * p);
    let (a, b) = ((lo / step).ceil() as i64, (hi / step).floor() as i64);
    // A range at the edge of f64 (width subnormal, or overflowing) gives no sane step: no ticks.
    if !(step > 0.0 && step.is_finite()) || b.saturating_sub(a) > 100 {
        return Vec::new();
    }
    (a..=b).map(|k| k as f64 * step).collect()
}

/// `(lo, hi)` of the values padded by `pad` of the width; never empty or zero-width.
fn span(vals: impl Iterator<Item = f64>, pad: f64) -> (f64, f64) {
    let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(v), b.max(v)));
    let d = if lo > hi {
        return (0.0, 1.0);
    } else if lo == hi {
        if lo == 0.0 {
            1.0
        } else {
            lo.abs() * 0.5
        }
    } else {
        (hi - lo) * pad
    };
    // Padding that would overflow f64 is dropped.
    if (lo - d).is_finite() && (hi + d).is_finite() {
        (lo - d, hi + d)
    } else {
        (lo, hi)
    }
}

/// Keeps the ticks whose labels clear the previous kept one by 8 px (`px`: value → pixels).
fn thin_ticks(ticks: Vec<f64>, px: impl Fn(f64) -> f64) -> Vec<f64> {
    let mut right = f64::NEG_INFINITY;
    ticks
        .into_iter()
        .filter(|&v| {
            let half = text_w(&fmt_num(v), TICK as f64) as f64 / 2.0 + 4.0;
            let keep = px(v) - half >= right;
            if keep {
                right = px(v) + half;
            }
            keep
        })
        .collect()
}

/// Draws the title; returns the plot area (left) and the legend area (right).
fn split<DB: DrawingBackend>(root: &Area<DB>, title: &str, legend_w: i32) -> Result<[Area<DB>; 2], DErr<DB>> {
    put(root, &fit(title, TITLE, W as i32 - 20), (W as i32 / 2, 18), TITLE, HPos::Center, BLACK)?;
    let (plot, legend) = root.margin(34, 0, 0, 0).split_horizontally(W as i32 - legend_w);
    Ok([plot, legend])
}

/// Axes, ticks and grid on `plot`; `x` and `y` are (lo, hi, ticks).
fn frame<'a, DB: DrawingBackend>(
    plot: &'a Area<DB>,
    labels: (&str, &str),
    x: (f64, f64, Vec<f64>),
    y: (f64, f64, Vec<f64>),
) -> Result<Chart2d<'a, DB>, DErr<DB>> {
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
        .x_desc(fit(labels.0, AXIS, plot_w as i32))
        .y_desc(fit(labels.1, AXIS, H as i32 - 120))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .label_style(desc(TICK))
        .axis_desc_style(desc(AXIS))
        .bold_line_style(RGBColor(225, 225, 225))
        .light_line_style(TRANSPARENT)
        .draw()?;
    Ok(chart)
}

/// The "on" pieces of a pixel polyline under a dash pattern that runs on across vertices.
fn dashes(pts: &[(f64, f64)], pattern: &[f64]) -> Vec<Vec<(f64, f64)>> {
    if pattern.is_empty() || pts.len() < 2 {
        return vec![pts.to_vec()];
    }
    let (mut out, mut cur, mut k, mut left) = (Vec::new(), vec![pts[0]], 0, pattern[0]);
    for w in pts.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        let (len, mut at) = ((x1 - x0).hypot(y1 - y0), 0.0);
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
        a.draw(&PathElement::new(
            piece.iter().map(|&(x, y)| (x.round() as i32, y.round() as i32)).collect::<Vec<_>>(),
            style,
        ))?;
    }
    Ok(())
}

fn outline(shape: Shape, (cx, cy): (i32, i32), r: f64) -> Vec<(i32, i32)> {
    let ring = |n: usize, radii: &[f64], turn: f64, dy: f64| -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| (turn + std::f64::consts::TAU * i as f64 / n as f64, radii[i % radii.len()]))
            .map(|(a, q)| (q * a.sin(), dy - q * a.cos()))
            .collect()
    };
    let b = 0.38;
    let plus = [
        (-b, -1.0),
        (b, -1.0),
        (b, -b),
        (1.0, -b),
        (1.0, b),
        (b, b),
        (b, 1.0),
        (-b, 1.0),
        (-b, b),
        (-1.0, b),
        (-1.0, -b),
        (-b, -b),
    ];
    let unit: Vec<(f64, f64)> = match shape {
        Shape::Circle => ring(12, &[1.0], 0.0, 0.0),
        Shape::Square => vec![(-0.85, -0.85), (0.85, -0.85), (0.85, 0.85), (-0.85, 0.85)],
        Shape::TriUp => ring(3, &[1.2], 0.0, 0.2),
        Shape::Diamond => vec![(0.0, -1.25), (1.0, 0.0), (0.0, 1.25), (-1.0, 0.0)],
        Shape::TriDown => ring(3, &[1.2], std::f64::consts::PI, -0.2),
        Shape::Plus => plus.iter().map(|&(x, y)| (x * 1.2, y * 1.2)).collect(),
        Shape::Cross => plus.iter().map(|&(x, y)| ((x - y) * 0.85, (x + y) * 0.85)).collect(),
        Shape::Star => ring(10, &[1.3, 0.55], 0.0, 0.0),
    };
    unit.iter().map(|&(x, y)| (cx + (x * r).round() as i32, cy + (y * r).round() as i32)).collect()
}

/// Exactly one `<polygon>` per marker (tests count them), plus an outline for open markers.
fn marker<DB: DrawingBackend>(a: &Area<DB>, at: (i32, i32), l: &Look) -> Res<DB> {
    let pts = outline(l.shape, at, l.radius);
    a.draw(&Polygon::new(pts.clone(), if l.filled { l.color.to_rgba() } else { l.color.mix(0.18) }.filled()))?;
    if l.filled {
        return Ok(());
    }
    let closed: Vec<_> = pts.iter().chain(pts.first()).copied().collect();
    a.draw(&PathElement::new(closed, l.color.stroke_width(2)))
}

fn error_bar<DB: DrawingBackend>(a: &Area<DB>, x: i32, (y0, y1): (i32, i32), color: RGBColor) -> Res<DB> {
    let s = color.mix(0.75).stroke_width(1);
    for seg in [[(x, y0), (x, y1)], [(x - 3, y0), (x + 3, y0)], [(x - 3, y1), (x + 3, y1)]] {
        a.draw(&PathElement::new(seg, s))?;
    }
    Ok(())
}

fn overlaps(a: Rect, b: Rect) -> bool {
    a.0 < b.2 && b.0 < a.2 && a.1 < b.3 && b.1 < a.3
}

fn inside(a: Rect, b: Rect) -> bool {
    a.0 >= b.0 && a.1 >= b.1 && a.2 <= b.2 && a.3 <= b.3
}

fn bounds<DB: DrawingBackend>(chart: &Chart2d<DB>) -> Rect {
    let (x, y) = chart.plotting_area().get_pixel_range();
    (x.start, y.start, x.end, y.end)
}

/// Threshold lines (`labels` false) or their labels (true): above the line at the right end, else
/// left, else below; never on another label, and on as few of `avoid` (markers) as possible.
/// Returns the label boxes.
fn thresholds<DB: DrawingBackend>(
    a: &Area<DB>,
    chart: &Chart2d<DB>,
    ts: &[Threshold],
    labels: bool,
    avoid: &[Rect],
) -> Result<Vec<Rect>, DErr<DB>> {
    let bounds = bounds(chart);
    let mut order: Vec<&Threshold> =
        ts.iter().filter(|t| chart.y_range().contains(&t.y) || t.y == chart.y_range().end).collect();
    order.sort_by(|p, q| q.y.total_cmp(&p.y));
    let mut boxes: Vec<Rect> = Vec::new();
    for th in order {
        let py = chart.backend_coord(&(chart.x_range().start, th.y)).1;
        if !labels {
            polyline(
                a,
                &[(bounds.0 as f64, py as f64), (bounds.2 as f64, py as f64)],
                &[6.0, 4.0],
                THRESHOLD.stroke_width(1),
            )?;
            continue;
        }
        let text = fit(&th.label, NOTE, (bounds.2 - bounds.0) / 2);
        let (w, h) = (text_w(&text, NOTE as f64) + 8, 16);
        // Stacked further out only when thresholds crowd; the nearest free level wins.
        let spots: Vec<Rect> = (0..4)
            .flat_map(|k| {
                [
                    (bounds.2 - 4 - w, py - 2 - h - k * h),
                    (bounds.0 + 4, py - 2 - h - k * h),
                    (bounds.2 - 4 - w, py + 2 + k * h),
                    (bounds.0 + 4, py + 2 + k * h),
                ]
            })
            .map(|(x, y)| (x, y, x + w, y + h))
            .collect();
        let cost = |r: &&Rect| avoid.iter().filter(|q| overlaps(**r, **q)).count();
        let free: Vec<&Rect> =
            spots.iter().filter(|r| inside(**r, bounds) && !boxes.iter().any(|b| overlaps(**r, *b))).collect();
        let r = *free.iter().take(4).min_by_key(|r| cost(r)).or(free.first()).copied().unwrap_or(&spots[0]);
        a.draw(&Rectangle::new([(r.0, r.1), (r.2, r.3)], WHITE.mix(0.85).filled()))?;
        put(a, &text, (r.0 + 4, (r.1 + r.3) / 2), NOTE, HPos::Left, THRESHOLD)?;
        boxes.push(r);
    }
    Ok(boxes)
}

/// Width of the legend area and of its text column for these labels.
fn legend_width<'a>(labels: impl Iterator<Item = &'a str>) -> (i32, i32) {
    let text = labels.map(|s| text_w(s, LEGEND as f64)).max().unwrap_or(0).min(210);
    (text + 56, text)
}

/// Legend rows (line sample with its dash and marker, then the label).
fn legend<DB: DrawingBackend>(a: &Area<DB>, rows: &[(&str, Look)], max_text: i32) -> Res<DB> {
    let step = (((H as i32) - 100) / rows.len().max(1) as i32).clamp(8, 22);
    for (i, (label, l)) in rows.iter().enumerate() {
        let y = 16 + step * i as i32;
        if l.width > 0 {
            polyline(a, &[(4.0, y as f64), (38.0, y as f64)], l.dash, l.color.stroke_width(l.width))?;
        }
        marker(a, (21, y), l)?;
        put(a, &fit(label, LEGEND, max_text), (46, y), LEGEND, HPos::Left, BLACK)?;
    }
    Ok(())
}

fn draw_line<DB: DrawingBackend>(c: &LineChart, root: &Area<DB>) -> Res<DB> {
    let all = || c.series.iter().flat_map(|s| s.points.iter());
    let x = span(all().map(|p| p.x), 0.04);
    let y = span([c.y_range.0, c.y_range.1].into_iter().chain(all().map(|p| p.y)), 0.0);
    let mut xs: Vec<f64> = all().map(|p| p.x).collect();
    xs.sort_by(f64::total_cmp);
    xs.dedup();
    let x_ticks = if (1..=12).contains(&xs.len()) { xs } else { nice_ticks(x.0, x.1) };
    let (legend_w, max_text) = legend_width(c.series.iter().map(|s| s.label.as_str()));
    let [plot, legend_area] = split(root, &c.title, legend_w)?;
    let chart = frame(&plot, (&c.x_label, &c.y_label), (x.0, x.1, x_ticks), (y.0, y.1, nice_ticks(y.0, y.1)))?;
    thresholds(root, &chart, &c.thresholds, false, &[])?;
    let looks = looks(&c.series);
    // Thick baselines first, thinner series on top, so exactly coinciding lines all stay visible.
    let mut order: Vec<usize> = (0..c.series.len()).collect();
    order.sort_by_key(|&i| match c.series[i].role {
        Role::Baseline => 0,
        Role::Reference => 1,
        Role::Normal => 2,
    });
    let px = |p: &Point| chart.backend_coord(&(p.x, p.y));
    for &i in &order {
        let mut pts: Vec<(f64, f64)> = c.series[i].points.iter().map(px).map(|(a, b)| (a as f64, b as f64)).collect();
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        polyline(root, &pts, looks[i].dash, looks[i].color.stroke_width(looks[i].width))?;
    }
    let n = c.series.len() as i32;
    for &i in &order {
        for p in &c.series[i].points {
            if let Some((lo, hi)) = p.ci {
                let py = |v: f64| chart.backend_coord(&(p.x, v.max(y.0).min(y.1))).1;
                error_bar(root, px(p).0 + 2 * i as i32 - (n - 1), (py(lo), py(hi)), looks[i].color)?;
            }
        }
    }
    for &i in &order {
        for p in &c.series[i].points {
            marker(root, px(p), &looks[i])?;
        }
    }
    let markers: Vec<Rect> = all().map(px).map(|(a, b)| (a - 5, b - 5, a + 6, b + 6)).collect();
    thresholds(root, &chart, &c.thresholds, true, &markers)?;
    let rows: Vec<(&str, Look)> = c.series.iter().zip(looks).map(|(s, l)| (s.label.as_str(), l)).collect();
    legend(&legend_area, &rows, max_text)
}

fn draw_scatter<DB: DrawingBackend>(c: &ScatterChart, root: &Area<DB>) -> Res<DB> {
    let x = span(c.points.iter().map(|p| p.x), 0.06);
    let ys = c.points.iter().flat_map(|p| [p.y, p.ci.map_or(p.y, |c| c.0), p.ci.map_or(p.y, |c| c.1)]);
    let y = span(ys.chain(c.thresholds.iter().map(|t| t.y)), 0.06);
    let front = Look { color: PALETTE[0], width: 2, dash: &[], shape: Shape::Circle, radius: 5.0, filled: true };
    let other =
        Look { color: RGBColor(120, 120, 120), width: 0, dash: &[], shape: Shape::Circle, radius: 4.0, filled: false };
    let look = |p: &ScatterPoint| if p.front { front } else { other };
    let rows: Vec<(&str, Look)> = [("Pareto front", front, true), ("other", other, false)]
        .into_iter()
        .filter(|r| c.points.iter().any(|p| p.front == r.2))
        .map(|r| (r.0, r.1))
        .collect();
    let (legend_w, max_text) = legend_width(rows.iter().map(|r| r.0));
    let [plot, legend_area] = split(root, &c.title, legend_w)?;
    let chart =
        frame(&plot, (&c.x_label, &c.y_label), (x.0, x.1, nice_ticks(x.0, x.1)), (y.0, y.1, nice_ticks(y.0, y.1)))?;
    thresholds(root, &chart, &c.thresholds, false, &[])?;
    let px = |p: &ScatterPoint| chart.backend_coord(&(p.x, p.y));
    let mut line: Vec<(f64, f64)> =
        c.points.iter().filter(|p| p.front).map(px).map(|(a, b)| (a as f64, b as f64)).collect();
    line.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    polyline(root, &line, &[], front.color.stroke_width(2))?;
    for p in &c.points {
        if let Some((lo, hi)) = p.ci {
            error_bar(
                root,
                px(p).0,
                (chart.backend_coord(&(p.x, lo)).1, chart.backend_coord(&(p.x, hi)).1),
                look(p).color,
            )?;
        }
    }
    // Front points last: their markers sit on top, their labels are placed first.
    let ranked: Vec<&ScatterPoint> =
        c.points.iter().filter(|p| !p.front).chain(c.points.iter().filter(|p| p.front)).collect();
    for p in &ranked {
        marker(root, px(p), &look(p))?;
    }
    let markers: Vec<Rect> = c.points.iter().map(px).map(|(a, b)| (a - 6, b - 6, a + 7, b + 7)).collect();
    // Labels never cover a marker or another label; among the spots beside a point, the one
    // crossing the fewest error-bar, front-line and threshold-line pixels wins.
    let mut hard = thresholds(root, &chart, &c.thresholds, true, &markers)?;
    hard.extend(&markers);
    let bounds = bounds(&chart);
    let mut soft: Vec<Rect> = c
        .points
        .iter()
        .filter_map(|p| {
            p.ci.map(|(lo, hi)| {
                (px(p).0 - 3, chart.backend_coord(&(p.x, hi)).1, px(p).0 + 4, chart.backend_coord(&(p.x, lo)).1 + 1)
            })
        })
        .collect();
    let ths = c
        .thresholds
        .iter()
        .map(|t| chart.backend_coord(&(x.0, t.y)).1 as f64)
        .map(|y| vec![(bounds.0 as f64, y), (bounds.2 as f64, y)]);
    for seg in std::iter::once(line).chain(ths) {
        for w in seg.windows(2) {
            let n = ((w[1].0 - w[0].0).hypot(w[1].1 - w[0].1) / 3.0).ceil().max(1.0) as usize;
            soft.extend(
                (0..=n)
                    .map(|k| k as f64 / n as f64)
                    .map(|f| ((w[0].0 + (w[1].0 - w[0].0) * f) as i32, (w[0].1 + (w[1].1 - w[0].1) * f) as i32))
                    .map(|(a, b)| (a - 1, b - 1, a + 2, b + 2)),
            );
        }
    }
    for p in ranked.iter().rev().filter(|p| p.front || c.label_all) {
        let text = fit(&p.label, POINT, 150);
        let (w, h, (a, b)) = (text_w(&text, POINT as f64) + 2, 13, px(p));
        let spots = [
            (a + 8, b - h / 2),
            (a - 8 - w, b - h / 2),
            (a - w / 2, b - 7 - h),
            (a - w / 2, b + 7),
            (a + 5, b - 5 - h),
            (a + 5, b + 5),
            (a - 5 - w, b - 5 - h),
            (a - 5 - w, b + 5),
        ];
        let cost = |r: &Rect| soft.iter().filter(|q| overlaps(*r, **q)).count();
        let free = spots
            .iter()
            .map(|&(x, y)| (x, y, x + w, y + h))
            .filter(|r| inside(*r, bounds) && !hard.iter().any(|q| overlaps(*r, *q)))
            .min_by_key(cost);
        if let Some(r) = free {
            // A faint halo keeps the text legible where it must cross a line.
            root.draw(&Rectangle::new([(r.0, r.1 + 1), (r.2, r.3 - 1)], WHITE.mix(0.7).filled()))?;
            put(root, &text, (r.0 + 1, (r.1 + r.3) / 2), POINT, HPos::Left, RGBColor(40, 40, 40))?;
            hard.push(r);
        }
    }
    legend(&legend_area, &rows, max_text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        let cases = [
            (0.02, "0.02"),
            (0.1 + 0.2, "0.3"),
            (100.0, "100"),
            (-2.5, "-2.5"),
            (8.0 / 255.0, "0.031373"),
            (1e-9, "1e-9"),
            (1.25e9, "1.25e9"),
        ];
        for (v, s) in cases {
            assert_eq!(fmt_num(v), s);
        }
    }

    #[test]
    fn dash_pattern_alternates_and_runs_across_vertices() {
        let d = dashes(&[(0.0, 0.0), (5.0, 0.0), (10.0, 0.0)], &[4.0, 2.0]);
        assert_eq!(d, vec![vec![(0.0, 0.0), (4.0, 0.0)], vec![(6.0, 0.0), (10.0, 0.0)]]);
        assert_eq!(dashes(&[(0.0, 0.0), (3.0, 4.0)], &[]).len(), 1);
    }

    #[test]
    fn ticks_are_round_and_thinned_only_when_labels_touch() {
        assert_eq!(nice_ticks(0.0, 100.0), vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert!(nice_ticks(0.0, 5e-324).is_empty() && nice_ticks(-f64::MAX, f64::MAX).is_empty());
        assert_eq!(span(std::iter::once(3.0), 0.1), (1.5, 4.5));
        assert_eq!(span(std::iter::empty(), 0.1), (0.0, 1.0));
        let px = |v: f64| v * 2000.0;
        assert_eq!(thin_ticks(vec![0.0, 0.1, 0.2, 0.5], px), vec![0.0, 0.1, 0.2, 0.5]);
        assert_eq!(thin_ticks(vec![0.0, 0.01, 0.02, 0.5], px), vec![0.0, 0.02, 0.5]);
    }

    #[test]
    fn long_text_is_cut_to_width() {
        let s = fit(&"wide ".repeat(100), LEGEND, 120);
        assert!(s.ends_with('…') && text_w(&s, LEGEND as f64) <= 120, "{s}");
        assert_eq!(fit("short", LEGEND, 120), "short");
    }
}
