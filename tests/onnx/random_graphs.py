"""Random CNN graphs built with onnx.helper (not by axdnn's exporter), run in ONNX Runtime, for
tests/nn/nn_onnx.rs: every op the importer maps, odd spatial sizes, asymmetric pads, strides,
groups. usage: random_graphs.py OUT_DIR COUNT SEED — writes g<i>.onnx, g<i>.x.f32 (inputs),
g<i>.y.f32 (ONNX Runtime's outputs) and g<i>.shape (N C H W)."""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

out, count, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(seed)

for gi in range(count):
    c, h, w = int(rng.integers(1, 4)), int(rng.integers(9, 17)), int(rng.integers(9, 17))
    nodes, inits = [], []
    k = [0]

    def name(p):
        k[0] += 1
        return f"{p}{k[0]}"

    def const(a):
        n = name("w")
        inits.append(numpy_helper.from_array(a.astype(np.float32), n))
        return n

    def conv(x, cin, hw, cout, groups=1):
        kk = int(rng.choice([1, 3, 5]))
        s = int(rng.integers(1, 3))
        pads = [int(v) for v in rng.integers(0, kk // 2 + 1, 4)] if kk > 1 else [0, 0, 0, 0]
        hh = (hw[0] + pads[0] + pads[2] - kk) // s + 1
        ww = (hw[1] + pads[1] + pads[3] - kk) // s + 1
        if hh < 2 or ww < 2:
            return x, cin, hw
        W = rng.normal(0, (2.0 / (cin // groups * kk * kk)) ** 0.5, (cout, cin // groups, kk, kk))
        y = name("conv")
        nodes.append(helper.make_node("Conv", [x, const(W), const(rng.normal(0, 0.1, cout))], [y], kernel_shape=[kk, kk], strides=[s, s], pads=pads, group=groups))
        return y, cout, (hh, ww)

    def unary(op, x, **kw):
        y = name(op.lower())
        nodes.append(helper.make_node(op, [x], [y], **kw))
        return y

    x, cin, hw = "x", c, (h, w)
    x, cin, hw = conv(x, cin, hw, 8)
    bn = [const(rng.uniform(0.5, 1.5, cin)), const(rng.normal(0, 0.1, cin)), const(rng.normal(0, 0.1, cin)), const(rng.uniform(0.5, 2, cin))]
    y = name("bn")
    nodes.append(helper.make_node("BatchNormalization", [x] + bn, [y], epsilon=1e-5))
    x = unary("Relu", y)
    skip = x
    # A depthwise 3×3 (padding 1) and a pointwise 1×1 keep the shape: a residual add joins them.
    d = name("dw")
    W = rng.normal(0, 0.5, (cin, 1, 3, 3))
    nodes.append(helper.make_node("Conv", [x, const(W), const(rng.normal(0, 0.1, cin))], [d], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=cin))
    pw = name("pw")
    W = rng.normal(0, (2.0 / cin) ** 0.5, (cin, cin, 1, 1))
    nodes.append(helper.make_node("Conv", [d, const(W)], [pw], kernel_shape=[1, 1]))
    y = name("add")
    nodes.append(helper.make_node("Add", [pw, skip], [y]))
    x = y
    y = name("clip")
    nodes.append(helper.make_node("Clip", [x, const(np.array(0.0)), const(np.array(6.0))], [y]))
    x = y
    kp = int(rng.choice([2, 3]))
    pads = [int(v) for v in rng.integers(0, kp // 2 + 1, 4)]
    mp = unary("MaxPool", x, kernel_shape=[kp, kp], strides=[2, 2], pads=pads)
    ap = unary("AveragePool", x, kernel_shape=[kp, kp], strides=[2, 2], pads=pads, count_include_pad=int(rng.integers(0, 2)))
    y = name("cat")
    nodes.append(helper.make_node("Concat", [mp, ap], [y], axis=1))
    x = unary("GlobalAveragePool", y)
    x = unary("Flatten", x)
    W = rng.normal(0, 0.3, (10, 2 * cin))
    nodes.append(helper.make_node("Gemm", [x, const(W), const(rng.normal(0, 0.1, 10))], ["y"], transB=1))
    g = helper.make_graph(nodes, f"g{gi}", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, c, h, w])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(out, f"g{gi}.onnx")
    onnx.save(m, path)
    n = 3
    xs = rng.random((n, c, h, w), dtype=np.float32)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    (ys,) = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"]).run(None, {"x": xs})
    xs.astype("<f4").tofile(os.path.join(out, f"g{gi}.x.f32"))
    np.ascontiguousarray(ys, dtype="<f4").tofile(os.path.join(out, f"g{gi}.y.f32"))
    with open(os.path.join(out, f"g{gi}.shape"), "w") as f:
        f.write(f"{n} {c} {h} {w}")
