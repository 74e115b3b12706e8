"""The lab: figures that show what training does, drawn from real training with gradwise's own
engine (needs the ``[lab]`` extra: matplotlib and pillow).

Every figure function returns a headless :class:`~gradwise.lab.style.LabFigure`, a
:class:`matplotlib.figure.Figure` whose ``.data`` holds the numbers it draws (keys in each
function's docstring); save it with ``fig.savefig("name.png")`` (or ``.svg``). Every GIF
function returns a :class:`~gradwise.lab.style.LabGif`: its ``.path`` and ``.frames``, what
each frame shows, read back from the frame's artists. Submodules load on first use, so the
command line can register the lab's subcommands without importing matplotlib.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "plot_activations": "activations",
    "activation_curves": "activations",
    "plot_decision_boundary": "boundary",
    "plot_boundaries": "boundary",
    "plot_hidden_units": "boundary",
    "predict_proba": "boundary",
    "linear_vs_nonlinear": "features",
    "plot_history": "curves",
    "plot_capacity": "curves",
    "capacity_study": "curves",
    "compare_learning_rates": "lr",
    "choose_learning_rates": "lr",
    "classify_curves": "lr",
    "plot_lr_comparison": "lr",
    "lr_range_test": "lr",
    "plot_lr_range_test": "lr",
    "suggest_lr": "lr",
    "SURFACES": "race",
    "run_race": "race",
    "plot_race": "race",
    "save_race_gif": "race",
    "gradient_noise": "noise",
    "plot_gradient_noise": "noise",
    "gradient_noise_along": "noise",
    "plot_gradient_noise_along": "noise",
    "filter_normalize": "landscape",
    "random_directions": "landscape",
    "pca_directions": "landscape",
    "interpolate": "landscape",
    "loss_along": "landscape",
    "loss_surface": "landscape",
    "Landscape": "landscape",
    "plot_landscape_1d": "landscape_plots",
    "plot_landscape_2d": "landscape_plots",
    "plot_surface_3d": "landscape_plots",
    "plot_feature_engineering": "features",
    "plot_first_layer_weights": "features",
    "plot_function_approximation": "features",
    "write_report": "report",
    "perceptron_line": "lecture",
    "will_i_pass": "lecture",
    "gradient_descent_steps": "lecture",
    "save_gradient_descent_gif": "lecture",
    "fitting_three_ways": "lecture",
    "dropout_study": "lecture",
    "early_stopping_study": "lecture",
    "minibatch_study": "lecture",
    "run_landscape": "landscape_run",
    "LivePlot": "live",
    "LabFigure": "style",
    "LabGif": "style",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'gradwise.lab' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
