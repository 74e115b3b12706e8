"""gradwise: the deep-learning system of the introductory lecture, built for real.

Tensors with reverse-mode differentiation, dense networks, the adaptive optimizers, training with
mini-batches, dropout and early stopping, on NumPy (CuPy on a GPU).
"""

from . import backend, functional, nn, threads
from .autograd import Function, Tensor, enable_grad, is_grad_enabled, no_grad, tensor
from .backend import (
    cuda_available,
    get_default_dtype,
    manual_seed,
    set_default_dtype,
)
from .creation import arange, eye, full, ones, ones_like, rand, randn, zeros, zeros_like
from .functional import (
    concatenate,
    exp,
    log,
    logsumexp,
    matmul,
    relu,
    sigmoid,
    softmax,
    sqrt,
    stack,
    tanh,
    where,
)
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

# Subpackages with optional dependencies (safetensors, tqdm, matplotlib) load on first use, so
# ``import gradwise`` needs NumPy alone.
_LAZY = {
    "optim": ("gradwise.optim", None),
    "data": ("gradwise.data", None),
    "callbacks": ("gradwise.training.callbacks", None),
    "lab": ("gradwise.lab", None),
    "testing": ("gradwise.testing", None),
    "onnx": ("gradwise.interop.onnx", None),
    "compile": ("gradwise.capture", "compile"),
    "fit": ("gradwise.training", "fit"),
    "evaluate": ("gradwise.training", "evaluate"),
    "predict": ("gradwise.training", "predict"),
    "History": ("gradwise.training", "History"),
    "save": ("gradwise.training.checkpoint", "save"),
    "load": ("gradwise.training.checkpoint", "load"),
}


def __getattr__(name: str) -> object:
    try:
        module_name, attr = _LAZY[name]
    except KeyError:
        raise AttributeError(f"module 'gradwise' has no attribute {name!r}") from None
    import importlib

    module = importlib.import_module(module_name)
    value = module if attr is None else getattr(module, attr)
    globals()[name] = value
    return value

__all__ = [
    "Function", "Tensor", "__version__", "arange", "backend", "concatenate", "cuda_available",
    "enable_grad", "exp", "eye", "full", "functional", "get_default_dtype", "get_num_threads",
    "is_grad_enabled", "log", "logsumexp", "manual_seed", "matmul", "nn", "no_grad", "ones",
    "ones_like", "rand", "randn", "relu", "set_default_dtype", "set_num_threads", "sigmoid",
    "softmax", "sqrt", "stack", "tanh", "tensor", "threads", "where", "zeros", "zeros_like",
    *_LAZY,
]
