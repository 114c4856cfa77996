"""Triton Python-backend model that runs <version>/model.onnx with onnxruntime on CPU.

serve_fixtures.py copies this file to <repo>/<model>/<version>/model.py. Triton has already
checked every input's name, datatype and shape against config.pbtxt before execute() runs, so
this only feeds the tensors to the ONNX session and returns the outputs the config declares.
"""

import json
import os

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]
        path = os.path.join(args["model_repository"], args["model_version"], "model.onnx")
        opts = ort.SessionOptions()
        # The CI machine has two cores and Triton runs one instance per model.
        opts.intra_op_num_threads = 2
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def execute(self, requests):
        responses = []
        for request in requests:
            try:
                feeds = {
                    name: pb_utils.get_input_tensor_by_name(request, name).as_numpy()
                    for name in self.inputs
                }
                results = self.session.run(self.outputs, feeds)
                tensors = [
                    pb_utils.Tensor(name, np.ascontiguousarray(value))
                    for name, value in zip(self.outputs, results)
                ]
                responses.append(pb_utils.InferenceResponse(output_tensors=tensors))
            except Exception as err:  # one bad request must not fail the others in the batch
                responses.append(
                    pb_utils.InferenceResponse(
                        output_tensors=[],
                        error=pb_utils.TritonError(f"onnxruntime failed: {err}"),
                    )
                )
        return responses
