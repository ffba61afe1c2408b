//! `axdnn._axdnn`: the native half of the `axdnn` Python package. Every class and function here
//! converts Python values to the library's types, calls the library, and converts the result
//! back; the library holds all domain logic. Long calls release the GIL (the library runs them
//! on rayon). A library error becomes `axdnn.AxdnnError` with the text the CLI prints after
//! `error: ` (the same `{:#}` rendering of the same error value); a malformed argument (shape,
//! dtype, range, setting name) becomes `ValueError` naming what was expected.

use axdnn::accel::{AccelError, Accelerator as Accel, ArrayShape, Dataflow, Engine};
use axdnn::data::{self, Dataset, DatasetName, Split};
use axdnn::lut::{self, Lut, Metrics};
use axdnn::model::io::{ModelMeta, SavedModel};
use axdnn::model::{engine, Shape};
use axdnn::mult::{resolve, LoadedMultiplier, RowPort};
use axdnn::quant::{ApproxLayers, QuantModel, QuantScheme, Recover};
use axdnn::study::target_spec::{Prepared, TargetSpec};
use axdnn::study::{report::Results, Inputs, Plan, Runner, StudyError};
use numpy::ndarray::{Array1, Array2, Array4};
use numpy::{IntoPyArray, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use std::path::{Path, PathBuf};

pyo3::create_exception!(
    axdnn,
    AxdnnError,
    PyException,
    "An error of the axdnn library; its message is the one the `axdnn` command prints."
);

/// A library error as `AxdnnError`, rendered as the CLI renders it (`main.rs`: `{e:#}` of an
/// `anyhow::Error`, which appends any source chain).
fn lib_err<E>(e: E) -> PyErr
where
    E: std::error::Error + Send + Sync + 'static,
{
    AxdnnError::new_err(format!("{:#}", anyhow::Error::from(e)))
}

fn value_err(msg: impl Into<String>) -> PyErr {
    PyValueError::new_err(msg.into())
}

/// The folders the CLI would use: the argument, else `$AXDNN_DATA` / `$AXDNN_EVOAPPROX`, else
/// `../shared/...` when present.
fn inputs(data: Option<PathBuf>, evoapprox: Option<PathBuf>) -> Inputs {
    axdnn::util::inputs::default_inputs(data, evoapprox)
}

/// A setting given by name (`"asym-u8"`, `"ws"`, …) parsed by the library's own parser.
fn setting<T: std::str::FromStr>(what: &str, text: &str) -> PyResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse::<T>().map_err(|e| value_err(format!("{what}: {e}")))
}

// ---- NumPy in ---------------------------------------------------------------------------------

/// `x` as a NumPy array (anything `numpy.asarray` takes: JAX and PyTorch CPU tensors too).
fn as_ndarray<'py>(x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let np = x.py().import("numpy")?;
    np.call_method1("asarray", (x,))
}

/// What an argument was, for error messages: dtype and shape of an array.
fn describe(a: &Bound<'_, PyAny>) -> String {
    let dtype = a.getattr("dtype").and_then(|d| d.str()).map(|s| s.to_string()).unwrap_or_else(|_| "?".into());
    let shape = a.getattr("shape").and_then(|s| s.str()).map(|s| s.to_string()).unwrap_or_else(|_| "?".into());
    format!("dtype {dtype}, shape {shape}")
}

/// Images `x` checked against the model's input: `(N, C, H, W)`, float32 (float64 is accepted and
/// rounded to float32, the library's type), finite and in [0, 1]. Any memory layout is taken
/// (non-contiguous arrays are copied in C order). Returns the pixels and N.
fn images(x: &Bound<'_, PyAny>, shape: Shape) -> PyResult<(Vec<f32>, usize)> {
    let want = format!(
        "x: expected a float32 array of shape (N, {}, {}, {}) with values in [0, 1]",
        shape.c, shape.h, shape.w
    );
    let a = as_ndarray(x).map_err(|_| value_err(format!("{want}; got a {}", x.get_type())))?;
    let pixels: Vec<f32>;
    let dims: Vec<usize>;
    if let Ok(arr) = a.cast::<PyArrayDyn<f32>>() {
        let r = arr.readonly();
        dims = r.shape().to_vec();
        check_dims(&dims, shape, &want, &a)?;
        // `as_slice` also succeeds on a Fortran-ordered array (memory order, not C order): only
        // a C-contiguous array is copied as it lies; any other is read in logical order.
        pixels = match r.as_slice() {
            Ok(s) if arr.is_c_contiguous() => s.to_vec(),
            _ => r.as_array().iter().copied().collect(),
        };
    } else if let Ok(arr) = a.cast::<PyArrayDyn<f64>>() {
        let r = arr.readonly();
        dims = r.shape().to_vec();
        check_dims(&dims, shape, &want, &a)?;
        pixels = r.as_array().iter().map(|&v| v as f32).collect();
    } else {
        return Err(value_err(format!("{want}; got {}", describe(&a))));
    }
    if let Some(i) = pixels.iter().position(|v| !(0.0..=1.0).contains(v)) {
        let per = shape.numel();
        let (n, r) = (i / per, i % per);
        let (c, r) = (r / (shape.h * shape.w), r % (shape.h * shape.w));
        return Err(value_err(format!("{want}; x[{n}, {c}, {}, {}] is {}", r / shape.w, r % shape.w, pixels[i])));
    }
    Ok((pixels, dims[0]))
}

fn check_dims(dims: &[usize], shape: Shape, want: &str, a: &Bound<'_, PyAny>) -> PyResult<()> {
    if dims.len() != 4 || dims[1..] != [shape.c, shape.h, shape.w] {
        return Err(value_err(format!("{want}; got {}", describe(a))));
    }
    Ok(())
}

/// Class labels: integers of shape `(n,)`, each below `classes`.
fn labels(y: &Bound<'_, PyAny>, n: usize, classes: usize) -> PyResult<Vec<u8>> {
    let want = format!("labels: expected an integer array of shape ({n},) with values in 0..{classes}");
    let a = as_ndarray(y).map_err(|_| value_err(format!("{want}; got a {}", y.get_type())))?;
    let kind: String = a.getattr("dtype")?.getattr("kind")?.extract()?;
    if kind != "i" && kind != "u" {
        return Err(value_err(format!("{want}; got {}", describe(&a))));
    }
    let a = a.call_method1("astype", ("int64",))?;
    let arr = a.cast::<PyArrayDyn<i64>>()?.readonly();
    if arr.shape() != [n] {
        return Err(value_err(format!("{want}; got {}", describe(&a))));
    }
    arr.as_array()
        .iter()
        .map(|&v| {
            (0..classes as i64).contains(&v).then_some(v as u8).ok_or_else(|| value_err(format!("{want}; found {v}")))
        })
        .collect()
}

/// A float32 `(n, k)` array of `n·k` values.
fn array2<'py>(py: Python<'py>, v: Vec<f32>, n: usize, k: usize) -> Bound<'py, PyAny> {
    Array2::from_shape_vec((n, k), v).expect("n·k values").into_pyarray(py).into_any()
}

/// A float32 `(n, C, H, W)` array.
fn array4<'py>(py: Python<'py>, v: Vec<f32>, n: usize, s: Shape) -> Bound<'py, PyAny> {
    Array4::from_shape_vec((n, s.c, s.h, s.w), v).expect("n images").into_pyarray(py).into_any()
}

// ---- Multiplier -------------------------------------------------------------------------------

/// An 8-bit multiplier as the accelerator uses it: its full table and what is published about
/// it. `spec` is any name the CLI's `--multiplier` takes except a per-layer assignment:
/// `"exact"`, an EvoApprox name (found under `evoapprox`, else `$AXDNN_EVOAPPROX`, else
/// `../shared/evoapprox`), a `.v` netlist, or a table file `FILE.bin|npy|h|csv[:signed|:unsigned]`.
#[pyclass(module = "axdnn._axdnn", frozen)]
struct Multiplier {
    spec: String,
    loaded: LoadedMultiplier,
}

impl Multiplier {
    fn lut(&self) -> &Lut {
        self.loaded.lut.as_ref().expect("a single multiplier resolved in table mode has its table")
    }
}

#[pymethods]
impl Multiplier {
    #[new]
    #[pyo3(signature = (spec, signed = None, evoapprox = None))]
    fn new(py: Python<'_>, spec: String, signed: Option<bool>, evoapprox: Option<PathBuf>) -> PyResult<Self> {
        if resolve::split_assignment(&spec).map_err(lib_err)?.is_some() {
            return Err(value_err(format!(
                "spec: a per-layer assignment ('{spec}') names several multipliers; give it to Accelerator(multiplier=...)"
            )));
        }
        let evo = inputs(None, evoapprox).evoapprox;
        py.detach(|| {
            // Signedness: as stated; else a table file's own (its header, or `:signed`), a
            // netlist's name (resolve decides that itself), and unsigned for `exact`.
            let signed = match (signed, lut::table_file::parse_spec(&spec)) {
                (Some(s), _) => s,
                (None, Some((file, stated))) => lut::table_file::open(&file, stated).map_err(lib_err)?.lut.signed,
                (None, None) => false,
            };
            let exact_power = resolve::exact_power_mw(evo.as_deref(), signed);
            let loaded =
                resolve::resolve_charged(&spec, signed, false, evo.as_deref(), exact_power).map_err(lib_err)?;
            Ok(Multiplier { spec, loaded })
        })
    }

    /// The spec it was made from.
    #[getter]
    fn spec(&self) -> &str {
        &self.spec
    }

    /// The circuit's name (e.g. `mul8u_L40`, `exact8x8u`).
    #[getter]
    fn name(&self) -> &str {
        self.loaded.mult.name()
    }

    /// Two's-complement operands and products.
    #[getter]
    fn signed(&self) -> bool {
        self.lut().signed
    }

    /// Published PDK45 power in mW, or None.
    #[getter]
    fn power_mw(&self) -> Option<f64> {
        self.loaded.power_mw
    }

    /// Published PDK45 area in µm², or None.
    #[getter]
    fn area_um2(&self) -> Option<f64> {
        self.loaded.area_um2
    }

    /// The Verilog or table file it came from (None for `exact`).
    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.loaded.path.clone()
    }

    /// sha256 of the table as the accelerator sees it (widths, signedness, every product).
    #[getter]
    fn sha256(&self) -> String {
        self.lut().sha256()
    }

    /// Every product as int32, `table[a, b]` = the product of operand code `a` on port A and
    /// code `b` on port B (shape `(2**bits_A, 2**bits_B)`; signed codes are two's-complement
    /// bit patterns, so operand −1 is index 255).
    #[getter]
    fn table<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        let l = self.lut();
        let (rows, cols) = (1usize << l.row_bits, 1usize << l.col_bits);
        let t = Array2::from_shape_vec((rows, cols), l.table.clone()).expect("2^(r+c) products");
        // The library's rows are the operand of `row_port`; A-major order is what users index.
        let t = match l.row_port {
            RowPort::A => t,
            RowPort::B => t.reversed_axes().as_standard_layout().into_owned(),
        };
        t.into_pyarray(py).into_any()
    }

    /// Error metrics over every operand pair (the ones `axdnn lut gen` prints): MAE, MAE %,
    /// WCE, WCE %, MRE %, WCRE %, EP %, MSE, mean error, error std, Hamming distance.
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let m = Metrics::of_lut(self.lut());
        let d = PyDict::new(py);
        for (k, v) in [
            ("mae", m.mae),
            ("mae_pct", m.mae_pct),
            ("wce", m.wce),
            ("wce_pct", m.wce_pct),
            ("mre_pct", m.mre_pct),
            ("wcre_pct", m.wcre_pct),
            ("ep_pct", m.ep_pct),
            ("mse", m.mse),
            ("mean_error", m.mean_error),
            ("error_std", m.error_std),
            ("hd", m.hd),
        ] {
            d.set_item(k, v)?;
        }
        Ok(d)
    }

    /// Write the table, in the format of the file's extension: `.bin` (TFApprox u16), `.npy`
    /// (int32), `.csv` (`row,col,product`), `.h` (AdaPT C header) — the bytes `axdnn lut gen
    /// --format bin|npy|csv|c` writes.
    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        let format = match path.extension().and_then(|e| e.to_str()) {
            Some("bin") => lut::io::Format::Bin,
            Some("npy") => lut::io::Format::Npy,
            Some("csv") => lut::io::Format::Csv,
            Some("h") => lut::io::Format::C,
            other => {
                return Err(value_err(format!(
                    "path: expected a .bin, .npy, .csv or .h file name; got extension {other:?}"
                )))
            }
        };
        py.detach(|| lut::io::export(self.lut(), format, &path)).map_err(lib_err)
    }

    fn __repr__(&self) -> String {
        format!("Multiplier({:?}, signed={})", self.spec, if self.signed() { "True" } else { "False" })
    }
}

// ---- Netlist ----------------------------------------------------------------------------------

/// A gate-level Verilog netlist (every EvoApprox dialect), parsed, elaborated and checked.
#[pyclass(module = "axdnn._axdnn", frozen)]
struct Netlist {
    path: PathBuf,
    parsed: axdnn::netlist::Parsed,
}

#[pymethods]
impl Netlist {
    /// Read, parse, elaborate and check a Verilog file (errors name `file:line:col`).
    #[staticmethod]
    fn parse(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let parsed = py.detach(|| axdnn::netlist::parse_file(&path)).map_err(lib_err)?;
        Ok(Netlist { path, parsed })
    }

    /// The module's name.
    #[getter]
    fn name(&self) -> &str {
        &self.parsed.netlist.name
    }

    /// Warnings found while elaborating (e.g. an input nothing reads).
    #[getter]
    fn warnings(&self) -> Vec<String> {
        self.parsed.warnings.iter().map(|w| w.to_string()).collect()
    }

    /// What `axdnn netlist stats` prints, as a dict: gates, cell instances, logic depth, input
    /// and output bits and ports, gates and instances per cell type.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = axdnn::netlist::graph::stats(&self.parsed.netlist);
        let d = PyDict::new(py);
        d.set_item("name", &s.name)?;
        d.set_item("gates", s.gates)?;
        d.set_item("cell_instances", s.cell_instances)?;
        d.set_item("depth", s.depth)?;
        d.set_item("input_bits", s.input_bits)?;
        d.set_item("output_bits", s.output_bits)?;
        d.set_item("inputs", s.inputs.clone())?;
        d.set_item("outputs", s.outputs.clone())?;
        d.set_item("gates_by_cell", s.gates_by_cell.clone())?;
        d.set_item("instances_by_cell", s.instances_by_cell.clone())?;
        Ok(d)
    }

    /// The netlist as a multiplier: every operand pair simulated into its table (signedness
    /// from the name, `mul8s_*`, unless `signed` is given), with the header's power and area.
    #[pyo3(signature = (signed = None))]
    fn multiplier(&self, py: Python<'_>, signed: Option<bool>) -> PyResult<Multiplier> {
        let spec = self.path.display().to_string();
        Multiplier::new(py, spec, signed, None)
    }

    fn __repr__(&self) -> String {
        format!("Netlist.parse({:?})", self.path.display().to_string())
    }
}

// ---- Model ------------------------------------------------------------------------------------

/// A float model: a model folder (`model.json` + `model.safetensors`) or an ONNX file.
#[pyclass(module = "axdnn._axdnn", frozen)]
struct Model {
    /// The folder or ONNX file (accelerator errors name it, as the CLI names `--model`).
    path: PathBuf,
    m: SavedModel,
}

#[pymethods]
impl Model {
    /// Read a model folder (weights' sha256, tensor shapes and finiteness checked).
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let m = py.detach(|| axdnn::model::io::load(&path)).map_err(lib_err)?;
        Ok(Model { path, m })
    }

    /// Import an ONNX file (as `axdnn import` does, without writing a folder). The dataset is
    /// the one whose images have the network's input shape unless given.
    #[staticmethod]
    #[pyo3(signature = (path, dataset = None))]
    fn from_onnx(py: Python<'_>, path: PathBuf, dataset: Option<String>) -> PyResult<Self> {
        let dataset: Option<DatasetName> = dataset.map(|d| setting("dataset", &d)).transpose()?;
        let (arch, params) = py.detach(|| axdnn::model::onnx::import(&path)).map_err(lib_err)?;
        let dataset = match dataset {
            Some(d) => d,
            None => DatasetName::ALL.iter().copied().find(|d| d.shape() == arch.input).ok_or_else(|| {
                value_err(format!("dataset: no dataset has {} images; give dataset='mnist' or 'cifar10'", arch.input))
            })?,
        };
        let meta = ModelMeta {
            dataset,
            dataset_files: Vec::new(),
            epochs: 0,
            seed: 0,
            optimizer: String::new(),
            test_accuracy: f64::NAN,
            test_n: 0,
            batchnorm_folded: false,
            train_seconds: 0.0,
            command: format!("axdnn.Model.from_onnx({:?})", path.display().to_string()),
            sha256: String::new(),
            finetune: None,
            quantization: None,
        };
        Ok(Model { path, m: SavedModel { arch, params, meta } })
    }

    /// `(C, H, W)` of one input image.
    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        let s = self.m.arch.input;
        (s.c, s.h, s.w)
    }

    /// Number of classes (logits per image).
    #[getter]
    fn classes(&self) -> usize {
        self.m.arch.classes
    }

    /// The dataset the model classifies (`mnist`, `cifar10`).
    #[getter]
    fn dataset(&self) -> String {
        self.m.meta.dataset.to_string()
    }

    /// The folder or ONNX file it was read from.
    #[getter]
    fn path(&self) -> PathBuf {
        self.path.clone()
    }

    /// Float test accuracy recorded in `model.json` (NaN for an ONNX import).
    #[getter]
    fn test_accuracy(&self) -> f64 {
        self.m.meta.test_accuracy
    }

    /// Float logits `(N, classes)` of images `x` `(N, C, H, W)` in [0, 1] (the values `axdnn
    /// eval --logits` writes, bit for bit).
    fn logits<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (x, n) = images(x, self.m.arch.input)?;
        let z = py.detach(|| engine::logits(&self.m.arch, &self.m.params, &x, n));
        Ok(array2(py, z, n, self.m.arch.classes))
    }

    /// dLoss/dx `(N, C, H, W)` of each image's own cross-entropy loss at its label.
    fn input_gradient<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        labels: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        Ok(self.loss_and_gradient(py, x, labels)?.1)
    }

    /// Each image's cross-entropy loss `(N,)` and its gradient `(N, C, H, W)`.
    fn loss_and_gradient<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        labels: &Bound<'py, PyAny>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (x, n) = images(x, self.m.arch.input)?;
        let y = self::labels(labels, n, self.m.arch.classes)?;
        let (l, g) = py.detach(|| engine::input_gradient(&self.m.arch, &self.m.params, &x, &y));
        Ok((Array1::from(l).into_pyarray(py).into_any(), array4(py, g, n, self.m.arch.input)))
    }

    /// The vector-Jacobian product of the float logits at `x`: `cotangent` `(N, classes)` taken
    /// back to the input, `(N, C, H, W)`. The backward half of BPDA (`axdnn.jax.bpda`).
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        cotangent: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (x, n) = images(x, self.m.arch.input)?;
        let classes = self.m.arch.classes;
        let want = format!("cotangent: expected a float32 array of shape ({n}, {classes})");
        let c = as_ndarray(cotangent)?.call_method1("astype", ("float32",)).map_err(|_| value_err(want.clone()))?;
        let c = c.cast::<PyArrayDyn<f32>>()?.readonly();
        if c.shape() != [n, classes] {
            return Err(value_err(format!("{want}; got shape {:?}", c.shape())));
        }
        let g: Vec<f32> = c.as_array().iter().copied().collect();
        let (arch, params) = (&self.m.arch, &self.m.params);
        let seed = |i: usize, _z: &[f32], d: &mut [f32]| d.copy_from_slice(&g[i * classes..(i + 1) * classes]);
        let (_, grad) = py.detach(|| engine::input_gradient_seeded(arch, params, &x, None, &seed));
        Ok(array4(py, grad, n, arch.input))
    }

    fn __repr__(&self) -> String {
        let s = self.m.arch.input;
        format!(
            "Model({:?}: {}, input ({}, {}, {}), {} classes)",
            self.path.display().to_string(),
            self.m.meta.dataset,
            s.c,
            s.h,
            s.w,
            self.m.arch.classes
        )
    }
}

// ---- Accelerator ------------------------------------------------------------------------------

/// What an accelerator borrows: its quantized (and recovered) model and its multiplier.
struct Owned {
    qm: QuantModel,
    mult: LoadedMultiplier,
}

self_cell::self_cell!(
    /// The library's accelerator together with what it borrows, so a Python object can own it.
    struct AccelCell {
        owner: Owned,
        #[covariant]
        dependent: Accel,
    }
);

/// The settings of an accelerator, with the CLI's flag names and defaults.
struct Settings {
    multiplier: String,
    scheme: QuantScheme,
    array: ArrayShape,
    dataflow: Dataflow,
    per_channel: bool,
    approx_layers: ApproxLayers,
    recover: Recover,
    calib: usize,
    calib_seed: u64,
    clock_ghz: f64,
    engine: Engine,
}

/// The quantized model on the simulated systolic array: `model` quantized as `axdnn infer
/// --model … --scheme … --per-channel --approx-layers … --calib … --calib-seed …` does, and run
/// on an `array` with `dataflow` whose chosen layers multiply on `multiplier`.
#[pyclass(module = "axdnn._axdnn", frozen)]
struct Accelerator {
    cell: AccelCell,
    label: String,
    classes: usize,
    input: Shape,
    settings: Settings,
}

/// Calibrate, quantize, resolve the multiplier, recover, bind: the steps of `axdnn infer`
/// (`InferFlags::run`) through the same library calls, so errors and integers are the CLI's.
fn build(model: &Model, s: &Settings, inputs: &Inputs) -> Result<(AccelCell, String), StudyError> {
    let m = &model.m;
    let spec = TargetSpec {
        model: model.path.clone(),
        scheme: s.scheme,
        per_channel: s.per_channel,
        array: s.array,
        dataflow: s.dataflow,
        approx_layers: s.approx_layers.clone(),
        calib: s.calib,
        calib_seed: s.calib_seed,
        images: None,
        clock_ghz: s.clock_ghz,
    };
    let root = inputs.data_root()?;
    let train = data::load(m.meta.dataset, Split::Train, &root).map_err(|e| StudyError::Input(e.to_string()))?;
    if train.shape != m.arch.input {
        return Err(StudyError::Input(format!(
            "{}: dataset images are {}, model expects {}",
            model.path.display(),
            train.shape,
            m.arch.input
        )));
    }
    let (qm, calib) = spec.quantize(m, &train)?;
    let exact_power_mw = resolve::exact_power_mw(inputs.evoapprox.as_deref(), s.scheme.signed_multiplier());
    // A prepared target without test images: resolving and recovering need none.
    let p = Prepared {
        spec,
        qm,
        test: Dataset { shape: m.arch.input, images: Vec::new(), labels: Vec::new() },
        dataset: m.meta.dataset,
        float_accuracy: f64::NAN,
        exact_power_mw,
        calib,
        meta: m.meta.clone(),
    };
    let mult = p.resolve(&s.multiplier, false, inputs.evoapprox.as_deref())?;
    let cfg = p.spec.accel_config(s.engine, false, p.exact_power_mw);
    let qm = p.recovered(&mult, &s.multiplier, s.recover)?;
    let label = mult.label(&s.multiplier);
    let cell =
        AccelCell::try_new(Owned { qm, mult }, |o| Accel::for_loaded(&o.qm, &o.mult, cfg)).map_err(StudyError::from)?;
    Ok((cell, label))
}

impl Accelerator {
    fn accel(&self) -> &Accel<'_> {
        self.cell.borrow_dependent()
    }

    fn run(&self, py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<(axdnn::accel::Inference, usize)> {
        let (x, n) = images(x, self.input)?;
        let r = py.detach(|| self.accel().run(&x)).map_err(lib_err)?;
        Ok((r, n))
    }
}

#[pymethods]
impl Accelerator {
    #[new]
    #[pyo3(signature = (model, multiplier = None, scheme = "asym-u8", array = None, dataflow = "ws",
        per_channel = false, approx_layers = "conv", recover = "none", calib = 256, calib_seed = 0,
        clock_ghz = 1.0, engine = "fast", data = None, evoapprox = None))]
    #[allow(clippy::too_many_arguments)] // the CLI's flags, one keyword argument each
    fn new(
        py: Python<'_>,
        model: &Model,
        multiplier: Option<&Bound<'_, PyAny>>,
        scheme: &str,
        array: Option<&Bound<'_, PyAny>>,
        dataflow: &str,
        per_channel: bool,
        approx_layers: &str,
        recover: &str,
        calib: usize,
        calib_seed: u64,
        clock_ghz: f64,
        engine: &str,
        data: Option<PathBuf>,
        evoapprox: Option<PathBuf>,
    ) -> PyResult<Self> {
        let scheme: QuantScheme = setting("scheme", scheme)?;
        let multiplier = match multiplier {
            None => "exact".to_string(),
            Some(m) => match m.cast::<Multiplier>() {
                Ok(obj) => {
                    let obj = obj.get();
                    // A Multiplier object of the other signedness is the accelerator's error,
                    // not something to re-resolve quietly.
                    if obj.signed() != scheme.signed_multiplier() {
                        let e = AccelError::Signedness { name: obj.name().into(), signed: obj.signed(), scheme };
                        return Err(lib_err(StudyError::from(e)));
                    }
                    obj.spec.clone()
                }
                Err(_) => m.extract::<String>().map_err(|_| {
                    value_err("multiplier: expected a spec string (e.g. 'exact', 'mul8u_L40', 'conv1=mul8u_L40') or an axdnn.Multiplier")
                })?,
            },
        };
        let array: ArrayShape = match array {
            None => setting("array", axdnn::study::target_spec::defaults::ARRAY)?,
            Some(a) => match a.extract::<(usize, usize)>() {
                Ok((r, c)) => setting("array", &format!("{r}x{c}"))?,
                Err(_) => setting(
                    "array",
                    &a.extract::<String>()
                        .map_err(|_| value_err("array: expected (rows, cols) or 'RxC', e.g. (16, 16)"))?,
                )?,
            },
        };
        let s = Settings {
            multiplier,
            scheme,
            array,
            dataflow: setting("dataflow", dataflow)?,
            per_channel,
            approx_layers: setting("approx_layers", approx_layers)?,
            recover: setting("recover", recover)?,
            calib,
            calib_seed,
            clock_ghz,
            engine: setting("engine", engine)?,
        };
        if !(clock_ghz.is_finite() && clock_ghz > 0.0) {
            return Err(value_err(format!("clock_ghz: expected a positive number of GHz; got {clock_ghz}")));
        }
        let inputs = inputs(data, evoapprox);
        let (cell, label) = py.detach(|| build(model, &s, &inputs)).map_err(lib_err)?;
        Ok(Accelerator { cell, label, classes: model.m.arch.classes, input: model.m.arch.input, settings: s })
    }

    /// Dequantized logits `(N, classes)` of images `x` `(N, C, H, W)` in [0, 1], computed in 8-bit
    /// integers on the array (the logits whose sha256 `axdnn infer --json` prints).
    fn logits<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (r, n) = self.run(py, x)?;
        Ok(array2(py, r.logits, n, self.classes))
    }

    /// The last layer's int32 accumulators `(N, classes)` (the bit-exact integers before
    /// dequantization).
    fn accumulators<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (r, n) = self.run(py, x)?;
        Ok(Array2::from_shape_vec((n, self.classes), r.acc).expect("n·classes").into_pyarray(py).into_any())
    }

    /// Predicted class of each image `(N,)` int64 (first arg-max of the logits).
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let (r, _) = self.run(py, x)?;
        let p: Vec<i64> = r.predictions().into_iter().map(|c| c as i64).collect();
        Ok(Array1::from(p).into_pyarray(py).into_any())
    }

    /// Share of images `x` classified as `labels` (0 to 1).
    fn accuracy(&self, py: Python<'_>, x: &Bound<'_, PyAny>, labels: &Bound<'_, PyAny>) -> PyResult<f64> {
        let (r, n) = self.run(py, x)?;
        let y = self::labels(labels, n, self.classes)?;
        Ok(r.accuracy(&y))
    }

    /// Compute cycles of one image on the array (SCALE-Sim convention, layers summed).
    #[getter]
    fn cycles_per_image(&self) -> u64 {
        self.accel().stats().iter().map(|l| l.cycles).sum()
    }

    /// Multiplier energy of one image in nJ (E = MACs × P / f), or None when a layer's
    /// multiplier has no published power.
    #[getter]
    fn energy_per_image_nj(&self) -> Option<f64> {
        let pj: Option<f64> = self.accel().stats().iter().map(|l| l.energy_pj).sum();
        pj.map(|e| e / 1000.0)
    }

    /// Per GEMM layer and image: name, whether approximate, its multiplier, GEMM shape, MACs,
    /// folds, cycles, utilization, mapping efficiency, SRAM reads/writes and energy (pJ).
    fn layer_stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let acc = self.accel();
        let list = PyList::empty(py);
        for (gi, l) in acc.stats().iter().enumerate() {
            let d = PyDict::new(py);
            d.set_item("name", &l.name)?;
            d.set_item("approximate", l.approximate)?;
            d.set_item("multiplier", acc.layer_multiplier(gi).map_or("exact", |m| m.name()))?;
            d.set_item("gemm", (l.gemm.npix, l.gemm.k, l.gemm.nf))?;
            d.set_item("macs", l.macs)?;
            d.set_item("approx_macs", l.approx_macs)?;
            d.set_item("exact_macs", l.exact_macs)?;
            d.set_item("folds", l.folds)?;
            d.set_item("cycles", l.cycles)?;
            d.set_item("utilization", l.utilization)?;
            d.set_item("mapping_efficiency", l.mapping_efficiency)?;
            d.set_item("ifmap_reads", l.sram.ifmap_reads)?;
            d.set_item("filter_reads", l.sram.filter_reads)?;
            d.set_item("ofmap_writes", l.sram.ofmap_writes)?;
            d.set_item("energy_pj", l.energy_pj)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The multiplier's label (its circuit name, or an assignment's canonical spec).
    #[getter]
    fn multiplier(&self) -> &str {
        &self.label
    }

    /// sha256 of the multiplier's table (of every layer's, for an assignment).
    #[getter]
    fn lut_sha256(&self) -> String {
        self.cell.borrow_owner().mult.lut_sha256()
    }

    /// Quantization scheme.
    #[getter]
    fn scheme(&self) -> String {
        self.settings.scheme.to_string()
    }

    /// `(rows, cols)` of the PE array.
    #[getter]
    fn array(&self) -> (usize, usize) {
        (self.settings.array.rows, self.settings.array.cols)
    }

    /// `ws`, `os` or `is`.
    #[getter]
    fn dataflow(&self) -> String {
        self.settings.dataflow.to_string()
    }

    /// `(C, H, W)` of one input image.
    #[getter]
    fn input_shape(&self) -> (usize, usize, usize) {
        (self.input.c, self.input.h, self.input.w)
    }

    /// Number of classes.
    #[getter]
    fn classes(&self) -> usize {
        self.classes
    }

    fn __repr__(&self) -> String {
        let s = &self.settings;
        format!(
            "Accelerator({}, scheme={}, array={}, dataflow={}, per_channel={}, approx_layers={}, recover={}, calib={}, calib_seed={})",
            self.label,
            s.scheme,
            s.array,
            s.dataflow,
            if s.per_channel { "True" } else { "False" },
            s.approx_layers,
            s.recover,
            s.calib,
            s.calib_seed
        )
    }
}

// ---- Datasets and studies ---------------------------------------------------------------------

/// `(x, y)`: images float32 `(N, C, H, W)` in [0, 1] and labels int64 `(N,)` of a dataset split,
/// the first `n` when given.
#[pyfunction]
#[pyo3(signature = (name, split = "test", n = None, data = None))]
fn load_dataset<'py>(
    py: Python<'py>,
    name: &str,
    split: &str,
    n: Option<usize>,
    data: Option<PathBuf>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let name: DatasetName = setting("name", name)?;
    let split = match split {
        "train" => Split::Train,
        "test" => Split::Test,
        s => return Err(value_err(format!("split: expected 'train' or 'test'; got {s:?}"))),
    };
    let root = inputs(data, None).data.ok_or_else(|| AxdnnError::new_err(axdnn::util::inputs::NO_DATA))?;
    let mut ds = py.detach(|| data::load(name, split, &root)).map_err(lib_err)?;
    if let Some(n) = n {
        ds = ds.head(n);
    }
    let (shape, count) = (ds.shape, ds.len());
    let y: Vec<i64> = ds.labels.iter().map(|&l| l as i64).collect();
    Ok((array4(py, ds.images, count, shape), Array1::from(y).into_pyarray(py).into_any()))
}

/// Run a plan into `out` (resumable: stored rows are reused) and write its report. `plan` is a
/// plan file's path, or (`is_toml`) the plan's TOML text. Returns the complete result rows as
/// JSON (one object per cell and target, summed over image chunks, with per-image outcomes) and
/// the report's path.
#[pyfunction]
#[pyo3(signature = (plan, out, is_toml = false, data = None, evoapprox = None, progress = true))]
fn study_run(
    py: Python<'_>,
    plan: String,
    out: PathBuf,
    is_toml: bool,
    data: Option<PathBuf>,
    evoapprox: Option<PathBuf>,
    progress: bool,
) -> PyResult<(String, PathBuf)> {
    let inputs = inputs(data, evoapprox);
    py.detach(|| -> Result<(String, PathBuf), StudyError> {
        let plan = if is_toml {
            Plan::from_toml(&plan, Path::new("<plan dict>"), &inputs)?
        } else {
            Plan::load(Path::new(&plan), &inputs)?
        };
        let runner = Runner::new(plan, inputs);
        let runner = if progress { runner } else { runner.quiet() };
        runner.run(&out)?;
        axdnn::study::report::write(&out)?;
        let res = Results::open(&out)?;
        let rows: Vec<serde_json::Value> = res
            .complete()
            .map(|a| {
                let mut v = serde_json::to_value(&a.first).expect("rows serialize");
                let o = v.as_object_mut().expect("a row is an object");
                let (lo, hi) = a.proportion().wilson();
                for k in ["image_start", "image_end", "correct_bits"] {
                    o.remove(k);
                }
                // The budget as the plan wrote it (0.1), not its float32 widened (0.10000000149…).
                o.insert("epsilon".into(), axdnn::study::report::eps_f64(a.first.epsilon).into());
                o.insert("n".into(), a.n.into());
                o.insert("correct".into(), a.correct.into());
                o.insert("accuracy".into(), a.proportion().value().into());
                o.insert("ci_low".into(), lo.into());
                o.insert("ci_high".into(), hi.into());
                o.insert("correct_images".into(), a.bits.clone().into());
                v
            })
            .collect();
        Ok((serde_json::to_string(&rows).expect("rows serialize"), out.join("report.md")))
    })
    .map_err(lib_err)
}

/// A plan given as JSON (a dict of plan keys) as TOML text, for [`study_run`].
#[pyfunction]
fn plan_toml_from_json(json: &str) -> PyResult<String> {
    let v: serde_json::Value = serde_json::from_str(json).map_err(|e| value_err(format!("plan: {e}")))?;
    let t: toml::Value =
        toml::Value::try_from(v).map_err(|e| value_err(format!("plan: not expressible as a plan file: {e}")))?;
    toml::to_string(&t).map_err(|e| value_err(format!("plan: {e}")))
}

/// The native module.
#[pymodule]
fn _axdnn(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("AxdnnError", m.py().get_type::<AxdnnError>())?;
    m.add_class::<Multiplier>()?;
    m.add_class::<Netlist>()?;
    m.add_class::<Model>()?;
    m.add_class::<Accelerator>()?;
    m.add_function(wrap_pyfunction!(load_dataset, m)?)?;
    m.add_function(wrap_pyfunction!(study_run, m)?)?;
    m.add_function(wrap_pyfunction!(plan_toml_from_json, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
