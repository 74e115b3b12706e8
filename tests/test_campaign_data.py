"""Issue 11's campaign against the data loaders: hostile CSV, NPZ and IDX files are refused
with one DataError naming the file, row and column (never a traceback, never a hint to
unpickle), and `gradwise train` on them exits 2 leaving no run folder."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np
import pytest

from gradwise.cli import main
from gradwise.data import load_csv, load_npz, read_idx
from gradwise.errors import DataError, GradwiseError


def csv_file(tmp_path: Path, text: str | bytes, name: str = "d.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text.encode() if isinstance(text, str) else text)
    return p


@pytest.mark.parametrize(("cell", "shown"), [("nan", "nan"), ("inf", "inf"), ("-inf", "-inf"),
                                             ("1e308", r"1e\+308")])
def test_csv_non_finite_features_name_line_and_column(tmp_path: Path, cell: str,
                                                      shown: str) -> None:
    p = csv_file(tmp_path, f"a,b,label\n1,2,0\n3,{cell},1\n")
    with pytest.raises(DataError, match=rf"d\.csv, line 3, column 2 \('b'\): feature value "
                                        rf"{shown} is not finite"):
        load_csv(p)


def test_csv_non_finite_regression_target(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "a,label\n1,0.5\n2,nan\n")
    with pytest.raises(DataError, match=r"line 3, column 2 \('label'\): target value nan"):
        load_csv(p)


def test_csv_duplicate_header_names(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "label,a,label\n0,1,1\n")
    with pytest.raises(DataError, match=r"line 1: the header names column 'label' twice "
                                        r"\(columns 1 and 3\)"):
        load_csv(p)


def test_csv_label_beyond_int64(tmp_path: Path) -> None:
    p = csv_file(tmp_path, "a,label\n1,0\n2,99999999999999999999\n")
    with pytest.raises(DataError, match=r"line 3, column 2 \('label'\): label "
                                        r"99999999999999999999 does not fit"):
        load_csv(p)


@pytest.mark.parametrize("raw", [b"a,label\n1,\xff\xfe\n", b"\x00\x01\x02\xff" * 40])
def test_csv_binary_or_not_utf8(tmp_path: Path, raw: bytes) -> None:
    p = csv_file(tmp_path, raw)
    with pytest.raises(DataError, match=r"d\.csv: (not UTF-8 text|.*not a CSV table)"):
        load_csv(p)


def test_csv_nul_bytes_in_utf8(tmp_path: Path) -> None:
    p = csv_file(tmp_path, b"a,label\n1\x002,0\n")
    with pytest.raises(DataError, match=r"d\.csv, line 2"):
        load_csv(p)


# --- NPZ ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("x", "message"), [
    (np.zeros((4, 2, 2)), r"array 'x' has shape \(4, 2, 2\); expected a non-empty array of "
                          r"shape \(n_samples, n_features\)"),
    (np.array([["a", "b"]] * 4), r"array 'x' has dtype <U1; expected real numbers"),
    (np.zeros((0, 2)), r"array 'x' has shape \(0, 2\)"),
    (np.zeros((4, 2), complex), r"array 'x' has dtype complex128"),
    (np.array([[1.0, np.nan]] * 4), r"row 0, column 1: array 'x' value nan is not finite"),
    (np.array([[1.0, 1e308]] * 4), r"value 1e\+308 is not finite"),
])
def test_npz_bad_feature_arrays(tmp_path: Path, x: np.ndarray, message: str) -> None:
    np.savez(tmp_path / "d.npz", x=x, y=np.zeros(len(x), np.int64))
    with pytest.raises(DataError, match=message):
        load_npz(tmp_path / "d.npz")


def test_npz_bad_label_array(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.zeros((4, 2, 2)))
    with pytest.raises(DataError, match=r"array 'y' has shape \(4, 2, 2\)"):
        load_npz(tmp_path / "d.npz")


@pytest.mark.parametrize("raw", [bytes(range(256)) * 8, b"PK\x03\x04" + b"\0" * 100, b""])
def test_npz_random_bytes_never_suggest_pickle(tmp_path: Path, raw: bytes) -> None:
    (tmp_path / "d.npz").write_bytes(raw)
    with pytest.raises(DataError, match=r"d\.npz: not an \.npz archive") as info:
        load_npz(tmp_path / "d.npz")
    assert "pickle" not in str(info.value)


# --- IDX ----------------------------------------------------------------------------------------

def test_gzip_bomb_is_refused_before_inflating(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A header promising 10 images followed by 64 MiB of zeros: at most the promised bytes
    plus one are ever inflated."""
    header = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (10, 28, 28))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    body = comp.compress(header)
    zeros = b"\0" * (1 << 20)
    for _ in range(64):
        body += comp.compress(zeros)
    body += comp.flush()
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(body)
    read = []
    real_open = gzip.open

    def counting_open(*a, **k):  # noqa: ANN002, ANN003, ANN202
        f = real_open(*a, **k)
        real_read = f.read

        def read_(n=-1):  # noqa: ANN001, ANN202
            assert n is not None and n >= 0, "never read to the end"
            data = real_read(n)
            read.append(len(data))
            return data
        f.read = read_
        return f
    monkeypatch.setattr(gzip, "open", counting_open)
    with pytest.raises(DataError, match=r"header promises shape \(10, 28, 28\) .* more data"):
        read_idx(path)
    assert sum(read) <= 16 + 10 * 28 * 28 + 1


def test_idx_header_promising_more_than_a_gzip_can_hold(tmp_path: Path) -> None:
    header = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (60000, 4000, 4000))
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(header + b"\0" * 100))
    with pytest.raises(DataError, match=r"more than a \d+-byte gzip file can hold"):
        read_idx(path)


# --- through `gradwise train` -------------------------------------------------------------------

def _train_csv(tmp_path: Path, text: str | bytes, capsys: pytest.CaptureFixture[str],
               *extra: str) -> str:
    p = csv_file(tmp_path, text)
    out = tmp_path / "run"
    code = main(["train", "--quiet", "--out", str(out), "--set", "data.source=csv",
                 "--set", f"data.path={p}", "--set", "training.epochs=1", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "Traceback" not in err, err
    assert not out.exists()
    return err


def test_train_refuses_one_huge_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"{i},{i % 2}\n" for i in range(9)) + "9,1000000\n"
    err = _train_csv(tmp_path, "a,label\n" + rows, capsys)
    assert "label 999999 of sample" not in err and "label 1000000 of sample 9" in err
    assert "1000001 classes for 10 samples" in err


def test_train_refuses_negative_labels(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    err = _train_csv(tmp_path, "a,label\n1,0\n2,-1\n3,1\n4,0\n5,1\n", capsys)
    assert "label -1 of sample 1 is negative" in err


def test_train_one_row_csv_names_the_users_key(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    err = _train_csv(tmp_path, "a,b,label\n1,2,0\n", capsys)
    assert "data.validation_split = 0.2 of 1 samples" in err and "test_size" not in err


def test_train_csv_nan_leaves_no_folder(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    err = _train_csv(tmp_path, "a,b,label\n1,2,0\n3,nan,1\n" + "1,2,0\n" * 5, capsys)
    assert "line 3, column 2 ('b')" in err


def test_train_non_utf8_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _train_csv(tmp_path, b"a,label\n\xff,1\n", capsys)
    assert "d.csv: not UTF-8 text" in err


def test_every_data_error_is_a_gradwise_error() -> None:
    assert issubclass(DataError, GradwiseError) and issubclass(DataError, ValueError)
