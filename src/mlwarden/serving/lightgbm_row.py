"""One-row LightGBM prediction through the library's own single-row C API, in one call.

``Booster.predict`` makes several ctypes calls per request, and ctypes lets go of the GIL
around each: whenever the log writer thread runs, the event loop then waits for it at every
one of those calls (bench/serve.py saw a third of the server's time there). Here the
prediction is set up once (``LGBM_BoosterPredictForMatSingleRowFastInit``) and each row is a
single call through ``ctypes.PyDLL``, which keeps the GIL: a few microseconds of C code, and
Python threads can never run it concurrently.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

_PREDICT_NORMAL = 0  # C_API_PREDICT_NORMAL: probabilities, as Booster.predict returns
_FLOAT64 = 1  # C_API_DTYPE_FLOAT64


def _library() -> ctypes.PyDLL:
    from lightgbm.basic import _LIB

    lib = ctypes.PyDLL(_LIB._name)  # the same loaded library, called with the GIL held
    lib.LGBM_BoosterPredictForMatSingleRowFastInit.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
        ctypes.c_int32, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p),
    ]  # fmt: skip
    lib.LGBM_BoosterPredictForMatSingleRowFast.argtypes = [
        ctypes.c_void_p,
        ctypes.c_void_p,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_void_p,
    ]
    lib.LGBM_FastConfigFree.argtypes = [ctypes.c_void_p]
    lib.LGBM_GetLastError.restype = ctypes.c_char_p
    return lib


class SingleRowPredictor:
    """``predict(row)`` equals ``booster.predict(row[None, :], num_threads=1)[0]``."""

    def __init__(self, booster: Any) -> None:
        self._lib = _library()
        self._booster = booster  # the config points into it: keep it alive
        self.n_features = booster.num_feature()
        self._width = booster.num_model_per_iteration()  # scores per row
        self._config = ctypes.c_void_p()
        best = booster.best_iteration  # Booster.predict's default: the best iteration, if any
        self._check(
            self._lib.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle, _PREDICT_NORMAL, 0, best if best > 0 else -1, _FLOAT64,
                self.n_features, b"num_threads=1", ctypes.byref(self._config),
            )
        )  # fmt: skip
        # predict_values' buffers, their addresses taken once (``ndarray.ctypes`` builds an
        # object per access), behind a lock: threads sharing the predictor take turns
        self._lock = threading.Lock()
        self._row = np.empty(self.n_features, dtype=np.float64)
        self._out = np.empty(self._width, dtype=np.float64)
        self._n = ctypes.c_int64(0)
        self._args = (self._config, self._row.ctypes.data, ctypes.byref(self._n),
                      self._out.ctypes.data)  # fmt: skip

    def predict(self, row: np.ndarray) -> np.ndarray:
        """Scores of one row (float64, C-contiguous, ``n_features`` long)."""
        if row.shape != (self.n_features,) or row.dtype != np.float64 or not row.flags.c_contiguous:
            raise ValueError(f"expected a contiguous float64 row of {self.n_features} values")
        return np.array(self.predict_values(row.tolist()), dtype=np.float64)

    def predict_values(self, values: Sequence[float]) -> list[float]:
        """``predict`` for one row given as ``n_features`` floats, as a list: the serving hot
        path, which needs neither the row nor the scores as arrays."""
        with self._lock:
            self._row[:] = values
            self._check(self._lib.LGBM_BoosterPredictForMatSingleRowFast(*self._args))
            return self._out[: self._n.value].tolist()  # type: ignore[no-any-return]

    def _check(self, status: int) -> None:
        if status != 0:
            raise RuntimeError(self._lib.LGBM_GetLastError().decode())

    def __del__(self) -> None:
        if getattr(self, "_config", None):
            self._lib.LGBM_FastConfigFree(self._config)
