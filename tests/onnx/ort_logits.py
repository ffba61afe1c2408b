"""Logits of an ONNX model under ONNX Runtime (the reference runtime), for tests/nn/nn_onnx.rs.

usage: ort_logits.py MODEL.onnx IMAGES.f32 N C H W OUT.f32
Images and logits are raw little-endian float32 (N×C×H×W in, N×classes out). One thread and no
graph optimizations beyond ORT's defaults, so the run is repeatable.
"""
import sys

import numpy as np
import onnx
import onnxruntime as ort

model, images, n, c, h, w, out = sys.argv[1:8]
onnx.checker.check_model(onnx.load(model), full_check=True)
opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
x = np.fromfile(images, dtype="<f4").reshape(int(n), int(c), int(h), int(w))
(y,) = sess.run(None, {sess.get_inputs()[0].name: x})
np.ascontiguousarray(y, dtype="<f4").tofile(out)
