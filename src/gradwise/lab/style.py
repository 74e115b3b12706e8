"""One look for every figure of the lab: the two classes in TensorFlow Playground's orange and
blue (a pair that stays apart for red-green colour-blind readers, see :func:`simulate_cvd`) with
a marker shape of their own, colour maps, sizes.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot), so they render
headless, leave no global state behind and are freed as soon as they are no longer referenced.

The lab's one convention for the numbers a figure draws: every figure function returns a
:class:`LabFigure` (a matplotlib ``Figure``, so ``fig.savefig`` works as before) whose
:attr:`LabFigure.data` maps names to the numbers drawn (arrays, floats, ints, strings, and
dicts or lists of them; the keys are listed in each function's docstring), and every GIF
function returns a :class:`LabGif` whose :attr:`LabGif.frames` records, frame by frame, what
was drawn, read back from the frame's artists. Tests assert the lesson on these numbers.

Both show themselves wherever IPython displays objects (Jupyter, JupyterLab, VS Code, Colab),
with no pyplot and no ``%matplotlib inline``: a figure as a PNG (its ``_repr_png_`` and
``_repr_mimebundle_``, :data:`DISPLAY_DPI`), a GIF as an animated ``image/gif``; their plain
text names the numbers carried. Outside a notebook ``show()`` writes a PNG, opens it in the
system's image viewer where a desktop exists, and says where it is.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

__all__ = ["ACTIVATION_CMAP", "BEST_COLOR", "BLUE", "CLASS_COLORS", "CLASS_MARKERS",
           "CVD_MATRICES", "DISPLAY_DPI", "GREEN", "HELD_OUT_MARKERS", "LOSS_CMAP",
           "OPTIMIZER_COLORS", "ORANGE", "PATIENCE_COLOR", "PROBABILITY_CMAP", "RED",
           "TRAIN_COLOR", "VAL_COLOR", "LabFigure", "LabGif", "delta_e", "grid_over",
           "new_figure", "scatter_classes", "simulate_cvd"]

ORANGE = "#f59322"
BLUE = "#0877bd"
GREEN = "#1a9641"
RED = "#d7191c"
TRAIN_COLOR = "#1f77b4"
VAL_COLOR = "#ff7f0e"
BEST_COLOR = "#2ca02c"
PATIENCE_COLOR = "#ffbf00"
CLASS_COLORS = (ORANGE, BLUE)
"""Class 0 is drawn orange and class 1 blue (TensorFlow Playground's pair), on every figure."""
CLASS_MARKERS = ("o", "s")
"""Class 0 as circles and class 1 as squares, so the classes differ in shape as well."""
HELD_OUT_MARKERS = ("^", "D")
"""Held-out points: class 0 as triangles and class 1 as diamonds."""

PROBABILITY_CMAP = LinearSegmentedColormap.from_list(
    "gradwise_orange_blue", [ORANGE, "#fbc98f", "#ffffff", "#84bbde", BLUE]
)
"""Orange (P(class 1) = 0) through white (0.5) to blue (1)."""

ACTIVATION_CMAP = "viridis"
"""Sequential map for values that are never negative (ReLU activations)."""

LOSS_CMAP = "viridis"

OPTIMIZER_COLORS = {
    "SGD": "#1f77b4",
    "Momentum": "#ff7f0e",
    "Nesterov": "#2ca02c",
    "Adagrad": "#d62728",
    "Adadelta": "#9467bd",
    "RMSprop": "#8c564b",
    "Adam": "#e377c2",
}


DISPLAY_DPI = 100
"""Dots per inch of the PNG a figure shows itself as in a notebook: matplotlib's own default,
so a 6 x 5 inch figure is 600 x 500 pixels, about the width of a notebook cell for the widest
(13 inch) lab figures once the front end scales it."""


def _describe(value: Any) -> str:
    """A short text for one entry of ``fig.data``: scalars as themselves, arrays by shape."""
    if isinstance(value, bool | int | str):
        return repr(value)
    if isinstance(value, float | np.floating):
        return f"{float(value):.4g}"
    if isinstance(value, np.ndarray):
        return f"array{value.shape}"
    if isinstance(value, dict):
        keys = ", ".join(map(str, list(value)[:6]))
        return "{" + keys + (", ..." if len(value) > 6 else "") + "}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def _in_a_kernel() -> bool:
    from ..training.progress import display_kind

    return display_kind() == "notebook"


def _open_viewer(path: Path) -> bool:
    """Open ``path`` in the desktop's image viewer, without waiting; False where there is no
    desktop (no ``DISPLAY``/``WAYLAND_DISPLAY`` on Linux, a server, CI) or no opener."""
    if sys.platform == "darwin":
        command = ["open", os.fspath(path)]
    elif sys.platform == "win32":
        os.startfile(os.fspath(path))  # type: ignore[attr-defined]  # noqa: S606
        return True
    elif (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
            and shutil.which("xdg-open"):
        command = ["xdg-open", os.fspath(path)]
    else:
        return False
    subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    return True


def _show_outside_a_kernel(obj: Any, data: bytes, suffix: str = ".png") -> Path:
    """Write ``data`` to a fresh temporary file, open it where a viewer exists, and print
    where it is and how to see it."""
    folder = Path(tempfile.mkdtemp(prefix="gradwise-"))
    path = folder / f"{type(obj).__name__.lower()}{suffix}"
    path.write_bytes(data)  # a fresh private folder: no reader can see a partial file
    opened = _open_viewer(path)
    how = "opened in your image viewer" if opened else "open it with any image viewer"
    print(f"{type(obj).__name__} written to {path} ({how}). In Jupyter, JupyterLab, VS Code "
          "or Colab it shows itself as a cell's last expression; save it elsewhere with "
          "fig.savefig('name.png').")
    return path


class LabFigure(Figure):
    """A headless matplotlib figure that carries the numbers it draws in :attr:`data` (empty
    until the figure function fills it; keys documented by each figure function).

    It shows itself in any IPython front end (Jupyter, JupyterLab, VS Code, Colab) as a PNG at
    :data:`DISPLAY_DPI` (``_repr_png_``, ``_repr_mimebundle_``), with no pyplot and no
    ``%matplotlib inline``: the lab builds figures without pyplot, so the inline backend never
    registers its PNG formatter for them. Where it does register (pyplot imported), the
    figure's own bundle takes its place, so the picture shows once. :meth:`show` displays it in
    a notebook and writes (and opens, where a desktop exists) a PNG elsewhere."""

    data: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.data = {}

    def to_png(self, dpi: float = DISPLAY_DPI) -> bytes:
        """The figure as PNG bytes at ``dpi``, trimmed to what is drawn (as the inline
        backend does, ``bbox_inches="tight"``)."""
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=dpi, bbox_inches="tight",
                     facecolor="white")
        return buf.getvalue()

    def _repr_png_(self) -> bytes:
        return self.to_png()

    def _text(self) -> str:
        w, h = self.get_size_inches() * DISPLAY_DPI
        text = f"<{type(self).__name__} {w:.0f}x{h:.0f} px with {len(self.axes)} Axes>"
        if self.data:
            text += "\nfig.data: " + ", ".join(f"{k}={_describe(v)}"
                                               for k, v in self.data.items())
        return text

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, Any]:
        """``image/png`` (base64, as Jupyter's messages carry it) and ``text/plain`` naming
        the numbers in :attr:`data` (what a text-only front end prints)."""
        png = self.to_png()
        return {"image/png": base64.b64encode(png).decode("ascii"), "text/plain": self._text()}

    def show(self, warn: bool = True) -> None:
        """In a notebook: display the figure in the cell. Elsewhere (a terminal, a script): a
        pyplot-managed figure opens its window as matplotlib does; a lab figure (no window of
        its own) is written to a temporary PNG, opened in the desktop's image viewer where one
        exists, and its path printed."""
        if _in_a_kernel():
            from IPython.display import display

            display(self)
        elif getattr(self.canvas, "manager", None) is not None:
            super().show(warn=warn)
        else:
            _show_outside_a_kernel(self, self.to_png(), ".png")


@dataclass(frozen=True)
class LabGif:
    """An animated GIF the lab wrote: its ``path`` and, for each frame written, a dict of what
    that frame draws (read back from the frame's artists; keys documented by the GIF function).
    ``os.fspath(gif)`` is the path, so it opens like one. In a notebook it shows itself as the
    animation (``image/gif``); :meth:`show` opens it elsewhere."""

    path: Path
    frames: list[dict[str, Any]] = field(default_factory=list)

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    def _text(self) -> str:
        return f"<LabGif {os.fspath(self.path)!r}, {len(self.frames)} frames>"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, Any]:
        """``image/gif`` (base64; front ends play it) and ``text/plain``."""
        data = Path(self.path).read_bytes()
        return {"image/gif": base64.b64encode(data).decode("ascii"), "text/plain": self._text()}

    def show(self) -> None:
        """In a notebook: play the GIF in the cell. Elsewhere: open it in the desktop's viewer
        where one exists, and print its path."""
        if _in_a_kernel():
            from IPython.display import display

            display(self)
            return
        opened = _open_viewer(Path(self.path))
        how = "opened in your image viewer" if opened else "open it with any image viewer " \
            "or a web browser (it is animated)"
        print(f"LabGif at {self.path} ({how}). In Jupyter, JupyterLab, VS Code or Colab it "
              "plays as a cell's last expression.")


def new_figure(width: float, height: float, dpi: int = 100) -> LabFigure:
    """A headless :class:`LabFigure` of ``width`` x ``height`` inches, constrained layout."""
    return LabFigure(figsize=(width, height), dpi=dpi, layout="constrained")


def scatter_classes(ax: Any, X: np.ndarray, y: np.ndarray, held_out: bool = False,
                    label_suffix: str = "", size: float = 18) -> None:
    """Points of class 0 as orange circles and class 1 as blue squares (held-out points:
    triangles and diamonds), outlined so they show on any background."""
    y = np.asarray(y).reshape(-1)
    markers = HELD_OUT_MARKERS if held_out else CLASS_MARKERS
    for cls, (color, marker) in enumerate(zip(CLASS_COLORS, markers, strict=True)):
        pts = X[y == cls]
        if len(pts):
            ax.scatter(pts[:, 0], pts[:, 1], c=color, s=size, marker=marker, edgecolors="black",
                       linewidths=0.5, label=f"class {cls}{label_suffix}", zorder=3)


# Machado, Oliveira and Fernandes, "A Physiologically-based Model for Simulation of Color Vision
# Deficiency", IEEE TVCG 15(6), 2009: the matrices for severity 1.0, applied to linear sRGB.
CVD_MATRICES = {
    "protanopia": np.array([[0.152286, 1.052583, -0.204868],
                            [0.114503, 0.786281, 0.099216],
                            [-0.003882, -0.048116, 1.051998]]),
    "deuteranopia": np.array([[0.367322, 0.860646, -0.227968],
                              [0.280085, 0.672501, 0.047413],
                              [-0.011820, 0.042940, 0.968881]]),
    "tritanopia": np.array([[1.255528, -0.076749, -0.178779],
                            [-0.078411, 0.930809, 0.147602],
                            [0.004733, 0.691367, 0.303900]]),
}


def _to_linear(c: np.ndarray) -> np.ndarray:
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(c: np.ndarray) -> np.ndarray:
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * c ** (1 / 2.4) - 0.055)


def simulate_cvd(color: str, kind: str) -> np.ndarray:
    """The sRGB colour (3 floats in [0, 1]) that a dichromat of ``kind`` (protanopia,
    deuteranopia or tritanopia) sees for ``color``: ``srgb(M lin(rgb))`` with Machado et al.'s
    (2009) matrix ``M`` at severity 1."""
    from matplotlib.colors import to_rgb

    if kind not in CVD_MATRICES:
        raise ValueError(f"simulate_cvd: kind must be one of {sorted(CVD_MATRICES)}, got {kind!r}")
    return _to_srgb(CVD_MATRICES[kind] @ _to_linear(np.array(to_rgb(color))))


def delta_e(rgb1: np.ndarray, rgb2: np.ndarray) -> float:
    """CIE76 colour difference ``||Lab1 - Lab2||`` of two sRGB colours (D65 white): about 2.3
    is just noticeable; two class colours should differ by tens."""
    def lab(rgb: np.ndarray) -> np.ndarray:
        m = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                      [0.0193, 0.1192, 0.9505]])
        xyz = m @ _to_linear(np.asarray(rgb, dtype=np.float64)) / np.array([0.95047, 1.0,
                                                                            1.08883])
        f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])
    return float(np.linalg.norm(lab(rgb1) - lab(rgb2)))


def grid_over(X: np.ndarray, resolution: int, margin: float = 0.15) -> tuple[np.ndarray, ...]:
    """A ``resolution`` x ``resolution`` grid over the bounding box of ``X`` widened by
    ``margin`` of its extent on each side: returns ``(xx, yy, points)`` with points (r*r, 2)."""
    lo, hi = X.min(axis=0), X.max(axis=0)
    pad = (hi - lo) * margin + 1e-6
    xs = np.linspace(lo[0] - pad[0], hi[0] + pad[0], resolution)
    ys = np.linspace(lo[1] - pad[1], hi[1] + pad[1], resolution)
    xx, yy = np.meshgrid(xs, ys)
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])
