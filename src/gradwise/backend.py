"""The one seam between NumPy and CuPy: array namespace, devices, default dtype, random generators.

Every op in gradwise is written once against an array namespace ``xp`` obtained from
:func:`xp_of` (for an existing array) or :func:`xp_for` (for a device name). On the CPU that
namespace is NumPy; on a GPU it is CuPy, an optional extra (``pip install gradwise[cuda]``).
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

try:  # CuPy is optional: importing gradwise never requires it.
    import cupy as _cupy  # type: ignore[import-not-found]
except Exception:  # pragma: no cover - depends on the machine
    _cupy = None

__all__ = [
    "Device",
    "as_dtype",
    "check",
    "check_range",
    "cuda_available",
    "data_ptr",
    "default_generator",
    "device_of",
    "get_default_dtype",
    "live",
    "manual_seed",
    "normalize_device",
    "raise_pending",
    "set_default_dtype",
    "to_device",
    "to_numpy",
    "uniform",
    "xp_for",
    "xp_of",
]

Device = str
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
_default_dtype: np.dtype = np.dtype(np.float32)


def cuda_available() -> bool:
    """True when CuPy is installed and sees at least one GPU."""
    if _cupy is None:
        return False
    try:
        return _cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # pragma: no cover - depends on the machine
        return False


def normalize_device(device: Device | None) -> Device:
    """Return ``"cpu"`` or ``"cuda"``; raise a clear error for anything else or a missing GPU."""
    if device is None or device == "cpu":
        return "cpu"
    if isinstance(device, str) and (device == "cuda" or device.startswith("cuda:")):
        if _cupy is None:
            raise RuntimeError(
                f"device={device!r} needs CuPy, which is not installed: "
                "pip install 'gradwise[cuda]' on a machine with an NVIDIA GPU"
            )
        if not cuda_available():
            raise RuntimeError(f"device={device!r}: CuPy is installed but sees no GPU")
        if ":" in device:
            _cupy.cuda.Device(int(device.split(":", 1)[1])).use()
        return "cuda"
    raise ValueError(f"unknown device {device!r}: expected 'cpu' or 'cuda'")


def xp_for(device: Device) -> types.ModuleType:
    """The array namespace of a (normalized) device."""
    return np if device == "cpu" else _cupy


def xp_of(array: Any) -> types.ModuleType:
    """The array namespace an array belongs to (NumPy unless it is a CuPy array; while
    :mod:`gradwise.capture` records a step, its recording namespace for a recorded array)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        return _cupy
    cap = _capture
    if cap is not None and type(array) is cap.array_type:
        return cap.xp  # type: ignore[no-any-return]
    return np


# --- the hooks of gradwise.capture (gw.compile) ----------------------------------------------

#: the recorder of a step being recorded by :mod:`gradwise.capture`, or None (eager)
_capture: Any = None
#: bumped whenever a module's attribute is assigned (``Module.__setattr__``): a compiled step
#: records afresh when the Python state it read (a dropout rate, a layer) may have changed
state_version = 0
_F = TypeVar("_F", bound=Callable[..., Any])


def set_capture(recorder: Any) -> Any:
    """Install the recorder of :mod:`gradwise.capture` (None: none); return the previous one."""
    global _capture
    previous, _capture = _capture, recorder
    return previous


def live(fn: _F) -> _F:
    """Mark ``fn`` (an optimizer's ``step``, the gradient all-reduce) as a *live* call of a
    compiled step: :mod:`gradwise.capture` records it as "call this", and every replay runs it
    as eager code, so what it reads (the learning rate, step counts) is read then."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        cap = _capture
        if cap is None:
            return fn(*args, **kwargs)
        return cap.live(fn, args, kwargs)

    return run  # type: ignore[return-value]


def uniform(generator: Any, shape: tuple[int, ...], dtype: Any, device: Device = "cpu") -> Any:
    """``generator.random(shape, dtype=dtype)``: uniforms in [0, 1) (dropout's masks), from
    ``generator`` or, when it is None, the device's default generator. A compiled step
    (:mod:`gradwise.capture`) draws them afresh from the same stream at every replay."""
    cap = _capture
    if cap is not None and cap.recording and cap.thread == threading.get_ident():
        return cap.uniform(generator, device, shape, dtype)
    gen = generator if generator is not None else default_generator(device)
    return gen.random(shape, dtype=dtype)


def data_ptr(array: Any) -> int:
    """The address of an array's first element (NumPy or CuPy)."""
    if isinstance(array, np.ndarray):
        return int(array.__array_interface__["data"][0])
    return int(array.data.ptr)


def device_of(array: Any) -> Device:
    return "cuda" if _cupy is not None and isinstance(array, _cupy.ndarray) else "cpu"


def to_device(array: Any, device: Device) -> Any:
    """Move an array to a device (a no-op when it is already there)."""
    if device == "cpu":
        cap = _capture
        if cap is not None and type(array) is cap.array_type:
            return array  # a recorded array stays recorded
        return to_numpy(array)
    if isinstance(array, _cupy.ndarray):
        return array
    return _cupy.asarray(array)


def to_numpy(array: Any) -> np.ndarray:
    """A NumPy array for any backend array (copies from the GPU, after raising any failed
    :func:`check` still pending there)."""
    if _cupy is not None and isinstance(array, _cupy.ndarray):
        raise_pending()
        return _cupy.asnumpy(array)
    cap = _capture
    if cap is not None and type(array) is cap.array_type:
        cap.host_read(array)  # a compiled step cannot replay this read
    return np.asarray(array)


# --- checks of values that live on the GPU -------------------------------------------------------

_pending: dict[str, Any] = {}


def check(bad: Any, message: str) -> None:
    """Raise ``ValueError(message)`` when the boolean 0-d array ``bad`` is true.

    On the CPU the check is immediate. On a GPU, reading ``bad`` would make the host wait for
    the GPU in the middle of a training step, so the flag stays on the device (or-ed with earlier
    failures of the same check) and is raised at the next point where the host reads GPU values
    anyway: ``Tensor.item()``, ``Tensor.numpy()``, :func:`to_numpy` or :func:`raise_pending`
    (``fit`` calls it after every epoch). This is how PyTorch reports device-side asserts too.
    """
    cap = _capture
    if cap is not None and type(bad) is cap.array_type:
        cap.check(bad, message)  # checked now and at every replay of a compiled step
        return
    if _cupy is None or not isinstance(bad, _cupy.ndarray):
        if bad:
            raise ValueError(message)
        return
    earlier = _pending.get(message)
    _pending[message] = bad if earlier is None else earlier | bad


def check_range(array: Any, low: float, high: float, message: str) -> None:
    """:func:`check` that every element of ``array`` lies in ``[low, high]`` (NaN passes):
    ``ValueError(message)`` otherwise. A compiled step (:mod:`gradwise.capture`) repeats it at
    every replay as one call."""
    cap = _capture
    if cap is not None and type(array) is cap.array_type:
        cap.check_range(array, low, high, message)
        return
    check((array.min() < low) | (array.max() > high), message)


def raise_pending() -> None:
    """Raise the first failed GPU :func:`check` not raised yet (one host sync when any are
    pending, none otherwise)."""
    if not _pending:
        return
    checks = list(_pending.items())
    _pending.clear()
    for message, bad in checks:
        if bool(bad):
            raise ValueError(f"{message} (found on the GPU after the step that computed it)")


def as_dtype(dtype: Any) -> np.dtype:
    """Parse a dtype given as a NumPy dtype, type or name (``"float32"``, ``"float64"``...)."""
    try:
        return np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"not a dtype: {dtype!r}") from exc


def get_default_dtype() -> np.dtype:
    """The floating dtype of new tensors and parameters (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the floating dtype used for new tensors and parameters (float32 or float64)."""
    global _default_dtype
    d = as_dtype(dtype)
    if d not in _FLOATS:
        raise ValueError(f"default dtype must be float16, float32 or float64, got {d}")
    _default_dtype = d


# --- random generators ------------------------------------------------------------------------

_generators: dict[Device, Any] = {}
_seed: int | None = None


def manual_seed(seed: int) -> None:
    """Seed every default random generator (NumPy's, and CuPy's when it is used).

    Weight initialization, dropout and shuffling draw from these generators unless they are
    handed an explicit ``generator``, so the same seed gives the same run. The CPU generator is
    reseeded in place (as ``torch.manual_seed`` does), so whoever holds it (a ``DataLoader``
    built before this call) follows the seed; it then draws as ``numpy.random.default_rng(seed)``.
    """
    global _seed
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed = int(seed)
    cpu = _generators.get("cpu")
    _generators.clear()  # CuPy's generator is made anew from the seed on its next use
    if cpu is not None:
        cpu.bit_generator.state = np.random.PCG64(_seed).state
        _generators["cpu"] = cpu


def default_generator(device: Device = "cpu") -> Any:
    """The default generator of a device: a ``numpy.random.Generator`` (PCG64) on the CPU,
    a ``cupy.random.Generator`` on a GPU; both seeded by :func:`manual_seed`."""
    gen = _generators.get(device)
    if gen is None:
        if device == "cpu":
            gen = np.random.default_rng(_seed)
        else:
            gen = _cupy.random.default_rng(_seed)
        _generators[device] = gen
    return gen
