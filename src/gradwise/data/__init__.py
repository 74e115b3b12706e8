"""Data for training: mini-batches, the lecture's 2D toy sets, CSV/NPZ files, MNIST, and
preprocessing (train/test split, standardization)."""

from .features import FEATURES, check_features, feature_map
from .files import load_csv, load_npz
from .idx import mnist, read_idx
from .loader import DataLoader
from .preprocessing import Standardizer, train_test_split
from .toy import (
    TOY_SETS,
    circle,
    gauss,
    get_toy,
    moons,
    regression_2d,
    regression_gauss,
    regression_plane,
    spiral,
    will_i_pass,
    xor,
)

__all__ = [
    "FEATURES",
    "TOY_SETS",
    "DataLoader",
    "Standardizer",
    "check_features",
    "circle",
    "feature_map",
    "gauss",
    "get_toy",
    "load_csv",
    "load_npz",
    "mnist",
    "moons",
    "read_idx",
    "regression_2d",
    "regression_gauss",
    "regression_plane",
    "spiral",
    "train_test_split",
    "will_i_pass",
    "xor",
]
