"""ONNX models run by onnxruntime, wrapped to offer ``predict``/``predict_proba``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlwarden.errors import require
from mlwarden.registry.flavors.base import Flavor, library_versions


class OnnxModel:
    """An onnxruntime session with the scikit-learn prediction methods.

    One input tensor gets the whole feature matrix as float32; several inputs are fed one
    column each (the layout skl2onnx produces for DataFrames).
    """

    def __init__(self, data: bytes) -> None:
        ort = require("onnxruntime", "onnx")
        self.session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        self.inputs = self.session.get_inputs()
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _feed(self, X: Any) -> dict[str, np.ndarray]:
        if len(self.inputs) == 1:
            arr = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
            return {self.inputs[0].name: arr.astype(np.float32)}
        feed = {}
        for spec in self.inputs:
            col = np.asarray(X[spec.name]).reshape(-1, 1)
            feed[spec.name] = col.astype(np.float32 if "float" in spec.type else object)
            if "string" in spec.type:
                feed[spec.name] = col.astype(str)
            elif "int64" in spec.type:
                feed[spec.name] = col.astype(np.int64)
        return feed

    def _run(self, X: Any) -> list[Any]:
        return self.session.run(None, self._feed(X))

    def predict(self, X: Any) -> np.ndarray:
        return np.asarray(self._run(X)[0]).ravel()

    def predict_proba(self, X: Any) -> np.ndarray:
        out = self._run(X)
        if len(out) < 2:
            raise AttributeError("this ONNX model has no probability output")
        probs = out[1]
        if isinstance(probs, list):  # ZipMap: a list of {class: probability}
            return pd.DataFrame(probs).to_numpy()
        return np.asarray(probs)


class OnnxFlavor(Flavor):
    name = "onnx"

    def matches(self, model: Any) -> bool:
        return type(model).__name__ == "ModelProto" and type(model).__module__.startswith("onnx")

    def save(self, model: Any) -> tuple[bytes, dict[str, Any]]:
        return model.SerializeToString(), {
            "libraries": library_versions("onnx", "onnxruntime"),
            "opsets": {o.domain or "ai.onnx": o.version for o in model.opset_import},
        }

    def load(self, data: bytes, info: dict[str, Any]) -> Any:
        return OnnxModel(data)
