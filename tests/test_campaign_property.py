"""Property test of issue 11: for generated configurations, CSV files and IDX headers the only
outcomes are success or the documented error class (ConfigError, DataError); never another
exception."""

from __future__ import annotations

import gzip
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st

from gradwise.data import load_csv, read_idx
from gradwise.errors import ConfigError, DataError, GradwiseError
from gradwise.training.config import SCHEMA, ConfigWarning, load_config
from gradwise.training.run import prepare_data

KEYS = [f"{section}.{key}" for section, keys in SCHEMA.items() for key in keys] + [
    "optimizer.lr", "optimizer.momentum", "optimizer.betas", "optimizer.weight_decay",
    "optimizer.bogus", "schedule.step_size", "schedule.gamma", "nosuch.key", "data",
    "training.early_stopping"]
TOML_VALUES = st.one_of(
    st.integers(-10**20, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(
        lambda f: {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(repr(f), repr(f))),
    st.sampled_from(["true", "false", '"spiral"', '"csv"', '"npz"', '"mnist"', '"toy"',
                     "[1, 2]", "[0]", "[]", "[-1]", '"adam"', '"sgd"', '"step"', "{}",
                     '"cuda"', '"relu"', '"val_loss"', "1e400", "[[1]]", '""']),
    st.text(max_size=8),
)


@given(st.lists(st.tuples(st.sampled_from(KEYS), TOML_VALUES), max_size=4))
@example([("data.source", "[1, 2]")])  # found by this test: a list as the source
def test_configs_load_or_raise_config_error(items: list[tuple[str, str]]) -> None:
    overrides = [f"{k}={v}" for k, v in items]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        try:
            config = load_config(None, overrides)
        except ConfigError:
            return
    assert set(config) >= {"data", "model", "optimizer", "training"}


CELLS = st.one_of(
    st.integers(-5, 5).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "1e308", "-1e400", "99999999999999999999", "label",
                     "a", " 1 ", "0x10", "1_000", "\x00"]),
    st.text(max_size=4))


@given(header=st.lists(st.sampled_from(["a", "b", "label", "x", " label"]), min_size=0,
                       max_size=4),
       rows=st.lists(st.lists(CELLS, min_size=0, max_size=4), max_size=6),
       raw_tail=st.binary(max_size=8))
def test_csv_files_load_or_raise_data_error(header: list[str], rows: list[list[str]],
                                            raw_tail: bytes) -> None:
    text = "\n".join(",".join(r) for r in [header, *rows]).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "d.csv"
        try:
            path.write_bytes(text + raw_tail)
        except UnicodeEncodeError:
            return
        try:
            X, y = load_csv(path)
        except DataError:
            return
        assert X.dtype == np.float32 and np.isfinite(X).all() and len(X) == len(y)
        config = load_config(None, ["data.source=csv", f"data.path={path}",
                                    "data.validation_split=0.0"])
        try:
            splits = prepare_data(config)
        except GradwiseError:
            return
        assert splits.n_outputs >= 1


@given(code=st.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0xFF]),
       dims=st.lists(st.integers(0, 2**32 - 1) | st.integers(0, 6), max_size=4),
       ndim_claim=st.integers(0, 255) | st.none(), body=st.binary(max_size=64),
       zipped=st.booleans(), prefix=st.sampled_from([b"\0\0", b"\0\1", b"\x1f\x8b"]))
@example(code=8, dims=[0, 3_036_988_439, 3_037_012_561], ndim_claim=None, body=b"",
         zipped=False, prefix=b"\0\0")  # found by this test: empty, yet too big for NumPy
def test_idx_headers_load_or_raise_data_error(code: int, dims: list[int],
                                              ndim_claim: int | None, body: bytes,
                                              zipped: bool, prefix: bytes) -> None:
    ndim = len(dims) if ndim_claim is None else ndim_claim
    raw = prefix + bytes([code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + body
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / ("x.gz" if zipped else "x")
        path.write_bytes(gzip.compress(raw) if zipped else raw)
        try:
            array = read_idx(path)
        except DataError:
            return
        assert array.ndim == ndim and array.size * array.itemsize <= len(raw)
