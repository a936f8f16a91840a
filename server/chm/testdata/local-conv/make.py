"""Writes model.onnx: a 'canopy height model' whose output at a pixel depends only on the 5x5
input pixels around it (one 5x5 convolution, bias 20, ReLU). Its exact whole-raster answer is
known, so it shows that tiling + blending stitch windows back in the right places; the seam test
uses it beside the (context-dependent) HRCH mini model. Run: /usr/bin/python3 make.py"""
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

rng = np.random.default_rng(5)
weight = numpy_helper.from_array(rng.normal(0, 1.0, (1, 3, 5, 5)).astype(np.float32), 'W')
bias = numpy_helper.from_array(np.array([20.0], np.float32), 'B')
x = helper.make_tensor_value_info('image', TensorProto.FLOAT, ['N', 3, 'H', 'W'])
y = helper.make_tensor_value_info('height', TensorProto.FLOAT, ['N', 1, 'H', 'W'])
graph = helper.make_graph(
    [helper.make_node('Conv', ['image', 'W', 'B'], ['c'], pads=[2, 2, 2, 2]), helper.make_node('Relu', ['c'], ['height'])],
    'local-conv', [x], [y], [weight, bias])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
model.ir_version = 8
onnx.checker.check_model(model)
onnx.save(model, __file__.replace('make.py', 'model.onnx'))
