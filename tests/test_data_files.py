"""load_csv and load_npz: values, dtypes, and errors naming the file, line and column."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradwise.data import load_csv, load_npz


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_with_header_and_named_target(tmp_path) -> None:
    path = write(tmp_path, "x1,label,x2\n0.5,1,2\n-1.5,0,3e2\n")
    X, y = load_csv(path, target="label")
    np.testing.assert_array_equal(X, np.array([[0.5, 2], [-1.5, 300]], dtype=np.float32))
    np.testing.assert_array_equal(y, [1, 0])
    assert X.dtype == np.float32 and y.dtype == np.int64


def test_csv_float_target_is_float32(tmp_path) -> None:
    path = write(tmp_path, "a,b,y\n1,2,0.25\n3,4,1\n")
    X, y = load_csv(path, target="y")
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [0.25, 1.0])
    assert X.shape == (2, 2)


def test_csv_integer_index_target_without_header(tmp_path) -> None:
    path = write(tmp_path, "1;2;3\n4;5;6\n", "semi.csv")
    X, y = load_csv(path, target=0, header=False, delimiter=";")
    np.testing.assert_array_equal(X, [[2, 3], [5, 6]])
    np.testing.assert_array_equal(y, [1, 4])
    X, y = load_csv(path, target=-1, header=False, delimiter=";")
    np.testing.assert_array_equal(y, [3, 6])


def test_csv_skips_blank_lines_and_counts_them(tmp_path) -> None:
    path = write(tmp_path, "a,label\n1,0\n\n2,1\n\n3,x\n")
    with pytest.raises(ValueError, match=r"line 6, column 2 \('label'\): 'x' is not a number"):
        load_csv(path)
    X, y = load_csv(write(tmp_path, "a,label\n1,0\n\n2,1\n", "ok.csv"))
    np.testing.assert_array_equal(y, [0, 1])


def test_csv_non_numeric_cell_names_file_line_column(tmp_path) -> None:
    path = write(tmp_path, "a,b,label\n1,2,0\n3,abc,1\n")
    with pytest.raises(ValueError, match=r"data\.csv, line 3, column 2 \('b'\): 'abc'") as info:
        load_csv(path)
    assert str(path) in str(info.value)


def test_csv_empty_cell_is_not_a_number(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"line 2, column 1: '' is not a number"):
        load_csv(write(tmp_path, "5,1\n,0\n"), target=1, header=False)


def test_csv_ragged_row(tmp_path) -> None:
    path = write(tmp_path, "a,b,label\n1,2,0\n1,2,3,4\n")
    with pytest.raises(ValueError, match=r"data\.csv, line 3: expected 3 columns, found 4"):
        load_csv(path)
    with pytest.raises(ValueError, match=r"line 2: expected 2 columns, found 1"):
        load_csv(write(tmp_path, "1,2\n3\n", "short.csv"), target=1, header=False)


def test_csv_missing_target_column(tmp_path) -> None:
    path = write(tmp_path, "a,b,y\n1,2,0\n")
    with pytest.raises(ValueError, match=r"data\.csv, line 1: no target column 'label'.*'a', 'b'"):
        load_csv(path)
    with pytest.raises(ValueError, match="3 columns"):
        load_csv(path, target=3)
    with pytest.raises(ValueError, match=r"line 3: no target column 'label'"):
        load_csv(write(tmp_path, "\n\na,b\n1,2\n", "late_header.csv"))
    with pytest.raises(ValueError, match="header=False"):
        load_csv(path, target="y", header=False)


def test_csv_empty_files(tmp_path) -> None:
    with pytest.raises(ValueError, match="empty"):
        load_csv(write(tmp_path, ""))
    with pytest.raises(ValueError, match="no data rows"):
        load_csv(write(tmp_path, "a,label\n", "header_only.csv"))
    with pytest.raises(ValueError, match="at least 2 columns"):
        load_csv(write(tmp_path, "label\n1\n", "one.csv"))


def test_npz_round_trip(tmp_path) -> None:
    X = np.arange(6, dtype=np.float64).reshape(3, 2)
    np.savez(tmp_path / "d.npz", x=X, y=np.array([0, 1, 0], dtype=np.int32))
    Xl, yl = load_npz(tmp_path / "d.npz")
    assert Xl.dtype == np.float32 and yl.dtype == np.int64
    np.testing.assert_array_equal(Xl, X)
    np.testing.assert_array_equal(yl, [0, 1, 0])
    np.savez(tmp_path / "e.npz", features=X, target=np.array([0.5, 1.0, 2.0]))
    Xl, yl = load_npz(tmp_path / "e.npz", x_key="features", y_key="target")
    assert Xl.dtype == np.float32 and yl.dtype == np.float32
    np.testing.assert_array_equal(Xl, X)
    np.testing.assert_array_equal(yl, [0.5, 1.0, 2.0])


def test_npz_missing_key_lists_keys(tmp_path) -> None:
    np.savez(tmp_path / "d.npz", inputs=np.zeros((2, 2)), y=np.zeros(2))
    message = r"d\.npz: no array 'x'; the archive holds \['inputs', 'y'\]"
    with pytest.raises(ValueError, match=message):
        load_npz(tmp_path / "d.npz")


def test_npz_refuses_pickled_arrays(tmp_path) -> None:
    np.savez(tmp_path / "p.npz", x=np.array([{"a": 1}, None], dtype=object), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"p\.npz: array 'x' holds Python objects") as info:
        load_npz(tmp_path / "p.npz")
    assert "allow_pickle" not in str(info.value)  # never suggest unpickling


def test_npz_other_errors(tmp_path) -> None:
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2)), y=np.zeros(2))
    with pytest.raises(ValueError, match=r"'x' has shape \(3, 2\) and 'y' has shape \(2,\)"):
        load_npz(tmp_path / "d.npz")
    np.save(tmp_path / "a.npy", np.zeros(3))
    with pytest.raises(ValueError, match="not an .npz archive"):
        load_npz(tmp_path / "a.npy")
