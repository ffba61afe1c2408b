//! ONNX in and out: axdnn's export runs in ONNX Runtime (the reference runtime, which nobody here
//! wrote) with the float engine's logits, and reads back into the same network; import errors
//! name the node.

use crate::common::{graph_arch, graph_params, python_with, random_images, random_params};
use axdnn::model::engine::logits;
use axdnn::model::onnx::{self, proto, OnnxError};
use axdnn::model::{Arch, LayerKind, Normalization, Pads, Params, Shape};
use prost::Message;
use std::path::Path;

/// The networks exported: both paper models (LeNet-5 with the MNIST normalization), ResNet-20,
/// the MobileNet-style network and the graph with every op.
fn networks() -> Vec<(&'static str, Arch, Params)> {
    let mut lenet = Arch::lenet5(Shape::new(1, 28, 28), 10);
    lenet.normalize = Some(Normalization::mnist());
    let alexnet = Arch::alexnet(Shape::new(3, 32, 32), 10);
    let resnet = Arch::resnet20(Shape::new(3, 32, 32), 10);
    let mobilenet = Arch::mobilenet(Shape::new(3, 32, 32), 10);
    let graph = graph_arch();
    vec![
        ("lenet5", lenet.clone(), random_params(&lenet, 1)),
        ("alexnet", alexnet.clone(), random_params(&alexnet, 2)),
        ("resnet20", resnet.clone(), graph_params(&resnet, 3)),
        ("mobilenet", mobilenet.clone(), graph_params(&mobilenet, 5)),
        ("graph", graph.clone(), graph_params(&graph, 4)),
    ]
}

fn close(a: &[f32], b: &[f32], tol: f32, what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: lengths");
    let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs() / (1.0 + y.abs())).fold(0f32, f32::max);
    println!("{what}: worst relative difference {worst:e}");
    assert!(worst <= tol, "{what}: worst relative difference {worst:e} > {tol:e}");
}

#[test]
fn export_then_import_gives_the_same_logits_bit_for_bit() {
    for (name, arch, p) in networks() {
        let bytes = onnx::export(&arch, &p);
        let (back, bp) = onnx::import_bytes(&bytes, Path::new(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(back.input, arch.input);
        assert_eq!(back.classes, arch.classes);
        assert_eq!(back.normalize, arch.normalize, "{name}: normalization");
        // A plain stack comes back as a chain (the quantizer's form).
        assert_eq!(back.is_chain(), arch.is_chain(), "{name}");
        let x = random_images(&arch, 4, 5);
        assert_eq!(logits(&back, &bp, &x, 4), logits(&arch, &p, &x, 4), "{name}");
    }
}

/// ONNX Runtime runs each exported file (after `onnx.checker`'s full check) and agrees with the
/// float engine within 1e-5 relative (worst seen: 2.0e-6, ResNet-20).
#[test]
fn onnx_runtime_agrees_with_the_float_engine() {
    let modules = ["onnx", "onnxruntime", "numpy"];
    if python_with(&modules).is_none() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/ort_logits.py");
    let dir = tempfile::tempdir().unwrap();
    // The committed LeNet-5 too (its trained weights, as `axdnn export` writes it).
    let shipped = axdnn::model::io::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/lenet5-mnist")).unwrap();
    let mut all = networks();
    all.push(("lenet5-mnist (committed)", shipped.arch, shipped.params));
    for (name, arch, p) in all {
        let n = 6;
        let model = dir.path().join(format!("{name}.onnx"));
        std::fs::write(&model, onnx::export(&arch, &p)).unwrap();
        let x = random_images(&arch, n, 7);
        let xin = dir.path().join(format!("{name}.in"));
        std::fs::write(&xin, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        let out = dir.path().join(format!("{name}.out"));
        let s = arch.input;
        let o = python_with(&modules)
            .expect("probed above")
            .arg(&script)
            .arg(&model)
            .arg(&xin)
            .args([n, s.c, s.h, s.w].map(|v| v.to_string()))
            .arg(&out)
            .output()
            .unwrap();
        assert!(o.status.success(), "{name}: {}", String::from_utf8_lossy(&o.stderr));
        let ort: Vec<f32> =
            std::fs::read(&out).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
        close(&logits(&arch, &p, &x, n), &ort, 1e-5, name);
    }
}

fn node(op: &str, inputs: &[&str], output: &str) -> proto::NodeProto {
    proto::NodeProto {
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        op_type: op.into(),
        name: format!("{op}_{output}"),
        ..Default::default()
    }
}

/// The LeNet-5 export with its graph edited by `edit`, imported.
fn edited(edit: impl Fn(&mut proto::GraphProto)) -> Result<(Arch, Params), OnnxError> {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let p = random_params(&arch, 9);
    let mut m = proto::ModelProto::decode(&onnx::export(&arch, &p)[..]).unwrap();
    edit(m.graph.as_mut().unwrap());
    onnx::import_bytes(&m.encode_to_vec(), Path::new("m.onnx"))
}

#[test]
fn import_rewrites_what_frameworks_write() {
    // Dropout and Identity vanish; a Softmax at the end is refused, never dropped in silence.
    let (a, _) = edited(|g| {
        let relu = g.node.iter().position(|n| n.op_type == "Relu").unwrap();
        let out = g.node[relu].output[0].clone();
        g.node[relu].output[0] = "pre".into();
        g.node.insert(relu + 1, node("Dropout", &["pre"], "mid"));
        g.node.insert(relu + 2, node("Identity", &["mid"], &out));
    })
    .unwrap();
    assert_eq!(a.layers.len(), 11, "LeNet-5's 11 nodes (the export's Flatten before fc1 is dropped again)");
    let e = edited(|g| {
        g.node.last_mut().unwrap().output[0] = "z".into();
        g.node.push(node("Softmax", &["z"], "logits"));
    })
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "m.onnx: node 'Softmax_logits' (Softmax): axdnn's models end in logits: export the network without its final softmax"
    );
    let e = edited(|g| g.node[0].op_type = "Erf".into()).unwrap_err();
    assert_eq!(e.to_string(), "m.onnx: node 'conv1' (Erf): this op is not supported");
    let e = edited(|g| g.node[0].input[1] = "missing".into()).unwrap_err();
    assert_eq!(e.to_string(), "m.onnx: node 'conv1' (Conv): input 'missing' is not defined before");
    let e = onnx::import_bytes(b"\x08\x07\x12", Path::new("bad.onnx")).unwrap_err();
    assert!(e.to_string().starts_with("bad.onnx: not an ONNX model"), "{e}");
    // What the issue lists as bad input, each one error naming the node or the file.
    let e = edited(|g| {
        let d = g.node[0].attribute.iter_mut().find(|a| a.name == "dilations").unwrap();
        d.ints = vec![2, 2];
    })
    .unwrap_err();
    assert_eq!(e.to_string(), "m.onnx: node 'conv1' (Conv): dilations [2, 2] are not supported");
    let e = edited(|g| {
        let mut second = g.input[0].clone();
        second.name = "second".into();
        g.input.push(second);
    })
    .unwrap_err();
    assert!(e.to_string().contains("2 graph inputs") && e.to_string().contains("second"), "{e}");
    let e = edited(|g| {
        let dims = &mut g.input[0].r#type.as_mut().unwrap().tensor_type.as_mut().unwrap().shape.as_mut().unwrap().dim;
        dims[2] = proto::Dimension { dim_value: None, dim_param: Some("height".into()) };
    })
    .unwrap_err();
    assert!(e.to_string().contains("C, H and W must be fixed"), "{e}");
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let whole = onnx::export(&arch, &random_params(&arch, 9));
    let e = onnx::import_bytes(&whole[..whole.len() / 2], Path::new("cut.onnx")).unwrap_err();
    assert!(e.to_string().starts_with("cut.onnx: not an ONNX model"), "{e}");
}

/// A pool's `ceil_mode = 1` becomes padding at the end (padding never wins a max, an average
/// without `count_include_pad` does not count it); an average counting padding whose last
/// window overhangs is refused, as its divisor would differ.
#[test]
fn ceil_mode_becomes_end_padding_where_that_is_exact() {
    let pool1 = |count_include_pad: i64| {
        move |g: &mut proto::GraphProto| {
            let n = g.node.iter_mut().find(|n| n.op_type == "AveragePool").unwrap();
            let ints = |name: &str, v: Vec<i64>| proto::AttributeProto {
                name: name.into(),
                ints: v,
                r#type: proto::attr_type::INTS,
                ..Default::default()
            };
            let int = |name: &str, i: i64| proto::AttributeProto {
                name: name.into(),
                i,
                r#type: proto::attr_type::INT,
                ..Default::default()
            };
            // 3×3, stride 2 over 28×28: 13 windows, 14 with ceil_mode (the last one overhangs by one).
            n.attribute = vec![
                ints("kernel_shape", vec![3, 3]),
                ints("strides", vec![2, 2]),
                int("ceil_mode", 1),
                int("count_include_pad", count_include_pad),
            ];
        }
    };
    let (a, _) = edited(pool1(0)).unwrap();
    let pad = Pads { top: 0, left: 0, bottom: 1, right: 1 };
    assert_eq!(a.layers[2].kind, LayerKind::AvgPool { k: 3, stride: 2, pad, count_include_pad: false });
    let e = edited(pool1(1)).unwrap_err().to_string();
    assert!(e.starts_with("m.onnx: node 'pool1' (AveragePool): ceil_mode = 1 with count_include_pad = 1 where"), "{e}");
}

/// Tensors in an external data file (ONNX's `data_location = EXTERNAL`) are read at their offset
/// from the model file's folder with the same logits; a location outside that folder, bytes past
/// the file's end or a missing location are refused naming the tensor.
#[test]
fn external_data_is_read_beside_the_model_and_never_outside_its_folder() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let p = random_params(&arch, 9);
    let mut m = proto::ModelProto::decode(&onnx::export(&arch, &p)[..]).unwrap();
    let entry = |k: &str, v: String| proto::StringStringEntryProto { key: k.into(), value: v };
    // Every initializer in one file under a subfolder, after three bytes of other data each.
    let mut blob = Vec::new();
    for t in &mut m.graph.as_mut().unwrap().initializer {
        blob.extend_from_slice(b"xyz");
        t.external_data = vec![
            entry("location", "w/data.bin".into()),
            entry("offset", blob.len().to_string()),
            entry("length", t.raw_data.len().to_string()),
        ];
        blob.append(&mut t.raw_data);
        t.data_location = proto::EXTERNAL;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("w")).unwrap();
    std::fs::write(dir.path().join("w/data.bin"), &blob).unwrap();
    let path = dir.path().join("m.onnx");
    let (a, ap) = onnx::import_bytes(&m.encode_to_vec(), &path).unwrap();
    let x = random_images(&arch, 3, 4);
    assert_eq!(logits(&a, &ap, &x, 3), logits(&arch, &p, &x, 3));
    assert_eq!(onnx::external_files(&m.encode_to_vec()), ["w/data.bin"]);
    let refused = |edit: &dyn Fn(&mut proto::TensorProto)| {
        let mut m = m.clone();
        edit(&mut m.graph.as_mut().unwrap().initializer[0]);
        let e = onnx::import_bytes(&m.encode_to_vec(), &path).unwrap_err().to_string();
        let head = format!("{}: tensor 'conv1.weight': ", path.display());
        e.strip_prefix(&head).unwrap_or_else(|| panic!("{e}")).to_string()
    };
    for loc in ["../data.bin", "/etc/passwd", "w/../../data.bin", ""] {
        let e = refused(&|t| t.external_data[0].value = loc.into());
        assert_eq!(e, format!("external data location '{loc}' is not a relative path inside the model's folder"));
    }
    let e = refused(&|t| t.external_data[2].value = "1000000".into());
    assert!(e.starts_with("external data bytes 3..+1000000 lie beyond the end of "), "{e}");
    let e = refused(&|t| t.external_data.remove(0).key.clear());
    assert_eq!(e, "external data without a 'location'");
    let e = refused(&|t| t.external_data[0].value = "w/gone.bin".into());
    assert!(e.starts_with("external data file ") && e.contains("gone.bin"), "{e}");
}

/// Normalization written as Sub/Div on the input, MatMul + Add as a linear layer, a Reshape to
/// [N, -1] as a flatten: all read back as axdnn's own forms with the same logits.
#[test]
fn import_folds_normalization_matmul_bias_and_reshape() {
    let arch = Arch::lenet5(Shape::new(1, 28, 28), 10);
    let p = random_params(&arch, 9);
    let (a, ap) = edited(|g| {
        // Normalization: (x − 0.5) / 0.25, first node reads the normalized value.
        g.initializer.push(proto::TensorProto {
            dims: vec![],
            data_type: proto::FLOAT,
            float_data: vec![0.5],
            name: "m".into(),
            ..Default::default()
        });
        g.initializer.push(proto::TensorProto {
            dims: vec![1, 1, 1, 1],
            data_type: proto::FLOAT,
            float_data: vec![0.25],
            name: "s".into(),
            ..Default::default()
        });
        g.node.insert(0, node("Sub", &["input", "m"], "xc"));
        g.node.insert(1, node("Div", &["xc", "s"], "xn"));
        g.node[2].input[0] = "xn".into();
        // The last Gemm as MatMul (weight transposed into an initializer) + Add of its bias.
        let gemm = g.node.iter().rposition(|n| n.op_type == "Gemm").unwrap();
        let (a_in, w, b) =
            (g.node[gemm].input[0].clone(), g.node[gemm].input[1].clone(), g.node[gemm].input[2].clone());
        let wt = g.initializer.iter_mut().find(|t| t.name == w).unwrap();
        let (o, f) = (wt.dims[0] as usize, wt.dims[1] as usize);
        let vals: Vec<f32> = wt.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        let mut tr = vec![0f32; o * f];
        for i in 0..o {
            for j in 0..f {
                tr[j * o + i] = vals[i * f + j];
            }
        }
        wt.dims = vec![f as i64, o as i64];
        wt.raw_data = tr.iter().flat_map(|v| v.to_le_bytes()).collect();
        g.node[gemm] = node("MatMul", &[&a_in, &w], "mm");
        g.node.insert(gemm + 1, node("Add", &["mm", &b], "logits"));
        // The Flatten before the first Gemm as Reshape(x, [-1, 120]) with a Constant shape.
        let fl = g.node.iter().position(|n| n.op_type == "Flatten").unwrap();
        let shape = proto::TensorProto {
            dims: vec![2],
            data_type: proto::INT64,
            int64_data: vec![-1, 120],
            ..Default::default()
        };
        let c = proto::NodeProto {
            output: vec!["shape".into()],
            op_type: "Constant".into(),
            attribute: vec![proto::AttributeProto {
                name: "value".into(),
                t: Some(shape),
                r#type: proto::attr_type::TENSOR,
                ..Default::default()
            }],
            ..Default::default()
        };
        g.node[fl].op_type = "Reshape".into();
        g.node[fl].attribute.clear();
        g.node[fl].input.push("shape".into());
        g.node.insert(fl, c);
    })
    .unwrap();
    let norm = a.normalize.clone().expect("normalization folded");
    assert_eq!((norm.mean[0], norm.std[0]), (0.5, 0.25));
    assert_eq!(a.layers.iter().filter(|l| matches!(l.kind, axdnn::model::LayerKind::Linear { .. })).count(), 2);
    let x = random_images(&arch, 3, 4);
    let xn: Vec<f32> = x.iter().map(|v| (v - 0.5) / 0.25).collect();
    close(&logits(&a, &ap, &x, 3), &logits(&arch, &p, &xn, 3), 1e-5, "folded");
}

/// The fuzz seeds (`tests/fuzz/seeds/onnx`): small exports, each with another op mix, so the
/// fuzzer starts from files the importer accepts. Rewritten with `AXDNN_BLESS=1`.
#[test]
fn onnx_fuzz_seeds_are_current_exports() {
    use axdnn::model::{ArchName, Layer, LayerKind, Pads};
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/seeds/onnx");
    let conv =
        |out_ch, k, stride, pad: usize, groups| LayerKind::Conv { out_ch, k, stride, pad: Pads::uniform(pad), groups };
    let chain = |name: &str, c: usize, hw: usize, layers: Vec<Layer>, classes: usize| {
        let arch = Arch { name: ArchName::Graph, input: Shape::new(c, hw, hw), classes, layers, normalize: None };
        (name.to_string(), arch)
    };
    let l = Layer::new;
    let mut nets = vec![
        chain(
            "mlp",
            4,
            1,
            vec![
                l("fc1", LayerKind::Linear { out: 5 }),
                l("r", LayerKind::Relu),
                l("fc2", LayerKind::Linear { out: 3 }),
            ],
            3,
        ),
        chain(
            "conv-maxpool",
            1,
            6,
            vec![
                l("c", conv(2, 3, 1, 1, 1)),
                l("m", LayerKind::MaxPool { k: 2, stride: 2, pad: Pads::default() }),
                l("f", LayerKind::Flatten),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain(
            "depthwise-clip",
            2,
            5,
            vec![
                l("dw", conv(2, 3, 2, 1, 2)),
                l("c", LayerKind::Clip { min: 0.0, max: 6.0 }),
                l("g", LayerKind::GlobalAvgPool),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain(
            "avgpool-pad",
            1,
            5,
            vec![
                l(
                    "a",
                    LayerKind::AvgPool {
                        k: 3,
                        stride: 2,
                        pad: Pads { top: 1, left: 0, bottom: 1, right: 1 },
                        count_include_pad: true,
                    },
                ),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain(
            "batchnorm",
            2,
            3,
            vec![
                l("c", conv(2, 1, 1, 0, 1)),
                l("bn", LayerKind::BatchNorm { eps: 1e-3 }),
                l("r", LayerKind::Relu),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain(
            "residual",
            2,
            3,
            vec![
                l("c", conv(2, 3, 1, 1, 1)),
                Layer::with_inputs("add", LayerKind::Add, &["c", "input"]),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain(
            "concat",
            1,
            4,
            vec![
                l("c", conv(2, 1, 1, 0, 1)),
                Layer::with_inputs("cat", LayerKind::Concat, &["c", "input"]),
                l("g", LayerKind::GlobalAvgPool),
                l("fc", LayerKind::Linear { out: 2 }),
            ],
            2,
        ),
        chain("strided-conv", 1, 7, vec![l("c", conv(1, 3, 2, 0, 1)), l("fc", LayerKind::Linear { out: 2 })], 2),
        chain("grouped", 4, 2, vec![l("c", conv(4, 1, 1, 0, 2)), l("fc", LayerKind::Linear { out: 2 })], 2),
    ];
    let (_, mut normed) = chain("normalized", 3, 2, vec![l("fc", LayerKind::Linear { out: 2 })], 2);
    normed.normalize = Some(Normalization { mean: vec![0.1, 0.2, 0.3], std: vec![0.5, 0.6, 0.7] });
    nets.push(("normalized".into(), normed));
    let bless = std::env::var_os("AXDNN_BLESS").is_some();
    for (name, arch) in nets {
        arch.validate().unwrap_or_else(|e| panic!("{name}: {e}"));
        let bytes = onnx::export(&arch, &graph_params(&arch, 1));
        let path = dir.join(format!("{name}.onnx"));
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let have = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (AXDNN_BLESS=1 writes it)", path.display()));
        assert!(have == bytes, "{} differs from the current export (AXDNN_BLESS=1 rewrites it)", path.display());
        onnx::import_bytes(&have, &path).unwrap_or_else(|e| panic!("{e}"));
    }
}

/// Twenty random graphs built with `onnx.helper` (not by the exporter; every op the importer
/// maps, odd H ≠ W, asymmetric pads, strides, a depthwise convolution, batch norm, a residual
/// add, concat of a max and an average pool) import, and the float engine gives ONNX Runtime's
/// outputs within 1e-5 relative.
#[test]
fn random_onnx_helper_graphs_match_onnx_runtime() {
    let modules = ["onnx", "onnxruntime", "numpy"];
    let Some(mut py) = python_with(&modules) else { return };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/onnx/random_graphs.py");
    let dir = tempfile::tempdir().unwrap();
    let o = py.arg(&script).arg(dir.path()).args(["20", "1"]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let f32s = |p: std::path::PathBuf| -> Vec<f32> {
        std::fs::read(p).unwrap().chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect()
    };
    let (mut adds, mut depthwise) = (0, 0);
    for i in 0..20 {
        let p = |ext: &str| dir.path().join(format!("g{i}.{ext}"));
        let (arch, params) = onnx::import(&p("onnx")).unwrap_or_else(|e| panic!("g{i}: {e}"));
        adds += arch.layers.iter().filter(|l| l.kind == axdnn::model::LayerKind::Add).count();
        depthwise += arch
            .layers
            .iter()
            .filter(|l| matches!(l.kind, axdnn::model::LayerKind::Conv { groups, .. } if groups > 1))
            .count();
        let shape: Vec<usize> =
            std::fs::read_to_string(p("shape")).unwrap().split_whitespace().map(|v| v.parse().unwrap()).collect();
        assert_eq!(arch.input, Shape::new(shape[1], shape[2], shape[3]), "g{i}");
        let n = shape[0];
        close(&logits(&arch, &params, &f32s(p("x.f32")), n), &f32s(p("y.f32")), 1e-5, &format!("g{i}"));
    }
    println!("{adds} residual adds and {depthwise} depthwise convolutions among the 20 graphs");
    assert!(adds > 0 && depthwise > 0);
}
