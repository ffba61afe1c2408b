"""QDQ-quantize a float ONNX model with ONNX Runtime's quantize_static (u8 activations, s8
per-channel weights) and run the result in ONNX Runtime twice: with its default graph
optimizations (fused int8 kernels) and with none (ONNX's reference semantics: DequantizeLinear,
float op, QuantizeLinear). Usage: ort_qdq.py FLOAT.onnx CALIB.npy TEST.npy OUT_DIR"""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

src, calib, test, out = sys.argv[1:5]
x_cal = np.load(calib)
x_test = np.load(test)
name = ort.InferenceSession(src, providers=["CPUExecutionProvider"]).get_inputs()[0].name


class Reader(CalibrationDataReader):
    def __init__(self):
        self.it = iter([{name: x_cal[i : i + 1]} for i in range(len(x_cal))])

    def get_next(self):
        return next(self.it, None)


# ONNX Runtime's recommended first step (shape inference, batch norms fused into convolutions).
pre = os.path.join(out, "pre.onnx")
quant_pre_process(src, pre)
q = os.path.join(out, "q.onnx")
quantize_static(
    pre,
    q,
    Reader(),
    quant_format=QuantFormat.QDQ,
    per_channel=True,
    activation_type=QuantType.QUInt8,
    weight_type=QuantType.QInt8,
)
# Every quantized value (each QuantizeLinear's output), for the node-by-node comparison.
m = onnx.load(q)
names = [n.output[0] for n in m.graph.node if n.op_type == "QuantizeLinear"]
for nm in names:
    m.graph.output.append(onnx.helper.make_tensor_value_info(nm, onnx.TensorProto.UINT8, None))
so = ort.SessionOptions()
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
s = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
res = [s.run(None, {name: x_test[i : i + 1]})[1:] for i in range(min(len(x_test), 100))]
for k, nm in enumerate(names):
    np.save(os.path.join(out, f"q_{k}.npy"), np.stack([np.asarray(r[k]).ravel() for r in res]).astype(np.float32))
with open(os.path.join(out, "q_names.txt"), "w") as f:
    f.write("\n".join(names))
for tag, level in [("opt", ort.GraphOptimizationLevel.ORT_ENABLE_ALL), ("ref", ort.GraphOptimizationLevel.ORT_DISABLE_ALL)]:
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(q, so, providers=["CPUExecutionProvider"])
    y = np.concatenate([s.run(None, {name: x_test[i : i + 1]})[0] for i in range(len(x_test))])
    np.save(os.path.join(out, f"y_{tag}.npy"), y.astype(np.float32))
