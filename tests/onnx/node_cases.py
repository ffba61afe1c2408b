"""ONNX's backend node tests, made by the installed onnx package's own case code, for
tests/nn/nn_onnx_node.rs.

usage: node_cases.py OUT_DIR OP [OP ...]

The wheel does not ship onnx/backend/test/data/node; the same cases come from
onnx.backend.test.case.node (the code onnx's `backend-test-tools generate-data` runs to make
that folder). Writes every case whose nodes are all of the given op types in onnx's own layout:
OUT_DIR/<case>/model.onnx and OUT_DIR/<case>/test_data_set_0/{input,output}_<k>.pb (TensorProto),
and OUT_DIR/VERSION (the onnx version). Cases with inputs that are not plain tensors (sequences,
optionals, maps) are left out: no op of the list takes them.
"""
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

out_dir, ops = sys.argv[1], set(sys.argv[2:])
warnings.simplefilter("ignore")  # the case code's own numpy overflow warnings (casts, logs)
from onnx.backend.test.case import node as node_cases  # noqa: E402

os.makedirs(out_dir, exist_ok=True)
written = 0
for case in node_cases.collect_testcases():
    graph = case.model.graph
    if not graph.node or any(n.op_type not in ops for n in graph.node):
        continue
    values = [v for io in (graph.input, graph.output) for v in io]
    if any(not v.type.HasField("tensor_type") for v in values):
        continue
    case_dir = os.path.join(out_dir, case.name)
    data_dir = os.path.join(case_dir, "test_data_set_0")
    os.makedirs(data_dir, exist_ok=True)
    with open(os.path.join(case_dir, "model.onnx"), "wb") as f:
        f.write(case.model.SerializeToString())
    inputs, outputs = case.data_sets[0]
    for kind, arrays, infos in (("input", inputs, graph.input), ("output", outputs, graph.output)):
        for k, (a, info) in enumerate(zip(arrays, infos)):
            t = a if isinstance(a, onnx.TensorProto) else numpy_helper.from_array(np.asarray(a), info.name)
            with open(os.path.join(data_dir, f"{kind}_{k}.pb"), "wb") as f:
                f.write(t.SerializeToString())
    written += 1
with open(os.path.join(out_dir, "VERSION"), "w") as f:
    f.write(onnx.__version__ + "\n")
print(f"{written} cases (onnx {onnx.__version__})")
