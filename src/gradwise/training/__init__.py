"""Training: ``fit``/``evaluate``/``predict``, ``History``, callbacks and checkpoints."""

from .callbacks import History
from .checkpoint import load, save
from .loop import evaluate, fit, predict

__all__ = ["History", "evaluate", "fit", "load", "predict", "save"]
