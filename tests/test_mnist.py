"""MNIST: the IDX reader, its checks, the checked atomic download (served from a temporary
folder, never the network), and the real files in ../shared/data/mnist-5k."""

from __future__ import annotations

import gzip
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest

from gradwise.data import idx as mnist_module
from gradwise.data import mnist, read_idx

CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D,
         np.float64: 0x0E}


def idx_bytes(array: np.ndarray, code: int | None = None) -> bytes:
    code = CODES[array.dtype.type] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + b"".join(
        int(s).to_bytes(4, "big") for s in array.shape
    )
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def fake_split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(
        np.uint8
    )


def fake_mnist(folder: Path, gz: bool = True, n_train: int = 12, n_test: int = 5) -> dict:
    """Write four small IDX files; return the arrays by split."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    out = {}
    for prefix, n, train in (("train", n_train, True), ("t10k", n_test, False)):
        images, labels = fake_split(rng, n)
        write(folder / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images))
        write(folder / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels))
        out[train] = (images, labels)
    return out


@pytest.mark.parametrize("dtype", list(CODES))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_round_trip(tmp_path, dtype, suffix: str) -> None:
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    got = read_idx(write(tmp_path / f"a.idx{suffix}", idx_bytes(array)))
    assert got.dtype == np.dtype(dtype) and got.dtype.isnative
    np.testing.assert_array_equal(got, array)


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_reads_both_splits(tmp_path, gz: bool) -> None:
    arrays = fake_mnist(tmp_path, gz=gz)
    for train, n in ((True, 12), (False, 5)):
        X, y = mnist(tmp_path, train=train)
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert y.shape == (n,) and y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() <= 1.0
        images, labels = arrays[train]
        np.testing.assert_array_equal(X, images.reshape(n, 784).astype(np.float32) / 255)
        np.testing.assert_array_equal(y, labels)


def test_gzipped_file_need_not_end_in_gz(tmp_path) -> None:
    fake_mnist(tmp_path, gz=True)
    (tmp_path / "raw").mkdir()
    for path in tmp_path.glob("*.gz"):
        path.rename(tmp_path / "raw" / path.name.removesuffix(".gz"))
    assert mnist(tmp_path / "raw")[0].shape == (12, 784)


def test_wrong_magic_number(tmp_path) -> None:
    fake_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    images = tmp_path / "train-images-idx3-ubyte.gz"
    images.write_bytes(labels.read_bytes())
    with pytest.raises(ValueError, match="expected MNIST images .magic 2051.*got magic 2049"):
        mnist(tmp_path)


def test_labels_magic_and_dims(tmp_path) -> None:
    fake_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros((12, 1), np.uint8)))
    with pytest.raises(ValueError, match=r"magic 2049, shape \(n,\).*got magic 2050"):
        mnist(tmp_path)


def test_images_of_the_wrong_size(tmp_path) -> None:
    fake_mnist(tmp_path)
    write(tmp_path / "train-images-idx3-ubyte.gz", idx_bytes(np.zeros((12, 28, 27), np.uint8)))
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28\).*shape \(12, 28, 27\)"):
        mnist(tmp_path)


@pytest.mark.parametrize("delta", [-1, 1])
def test_file_length_must_match_header(tmp_path, delta: int) -> None:
    data = idx_bytes(np.zeros((3, 28, 28), np.uint8))
    data = data[:-1] if delta < 0 else data + b"\0"
    path = write(tmp_path / "x.gz", data)
    has = "more data than that" if delta > 0 else f"{2368 + delta} bytes"
    with pytest.raises(ValueError, match=rf"x\.gz: header promises shape \(3, 28, 28\) "
                       rf"\(2368 bytes\) but the data has {has}"):
        read_idx(path)


def test_not_an_idx_file(tmp_path) -> None:
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(write(tmp_path / "x", b"hello world"))
    with pytest.raises(ValueError, match="not an IDX file.*empty"):
        read_idx(write(tmp_path / "e", b""))
    with pytest.raises(ValueError, match="promises 3 dims"):
        read_idx(write(tmp_path / "h", bytes([0, 0, 8, 3, 0, 0])))
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(write(tmp_path / "g", b"\x1f\x8b\x08\x00" + b"\xff" * 50))
    with pytest.raises(ValueError, match="corrupt gzip"):
        read_idx(write(tmp_path / "t", gzip.compress(
            idx_bytes(np.arange(3 * 28 * 28).reshape(3, 28, 28).astype(np.uint8)))[:-100]))


def test_image_and_label_counts_must_agree(tmp_path) -> None:
    fake_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(11, np.uint8)))
    with pytest.raises(ValueError, match="holds 12 images but .* holds 11 labels"):
        mnist(tmp_path)


def test_labels_must_be_digits(tmp_path) -> None:
    fake_mnist(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.full(12, 10, np.uint8)))
    with pytest.raises(ValueError, match="digits 0 to 9, found 10"):
        mnist(tmp_path)


def test_missing_files_say_what_to_put_where(tmp_path) -> None:
    fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    mnist(tmp_path, train=True)
    with pytest.raises(FileNotFoundError) as info:
        mnist(tmp_path, train=False)
    message = str(info.value)
    assert "t10k-labels-idx1-ubyte[.gz]" in message and "t10k-images" not in message
    assert str(tmp_path) in message and "download=True" in message


def test_files_are_also_found_in_cache_dir(tmp_path) -> None:
    fake_mnist(tmp_path / "cache")
    assert mnist(tmp_path / "root", cache_dir=tmp_path / "cache")[0].shape == (12, 784)


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A folder served as the only mirror (a file:// URL) and checksums of its files."""
    served = tmp_path / "served"
    fake_mnist(served)
    monkeypatch.setattr(mnist_module, "MIRRORS", [served.as_uri() + "/"])
    sums = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in served.iterdir()}
    monkeypatch.setattr(mnist_module, "SHA256", sums)
    return served


def test_download_fetches_verifies_and_reads(tmp_path, mirror) -> None:
    X, y = mnist(tmp_path / "root", download=True, cache_dir=tmp_path / "cache")
    assert X.shape == (12, 784)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == sorted(
        p.name for p in mirror.iterdir()
    )
    for path in (tmp_path / "cache").iterdir():
        assert path.read_bytes() == (mirror / path.name).read_bytes()
    assert not (tmp_path / "root").exists()
    assert mnist(tmp_path / "cache", train=False)[0].shape == (5, 784)


def test_download_skips_files_already_there(tmp_path, mirror, monkeypatch) -> None:
    fake_mnist(tmp_path / "root")
    monkeypatch.setattr(mnist_module, "MIRRORS", [])
    assert mnist(tmp_path / "root", download=True)[0].shape == (12, 784)


def test_download_tries_the_next_mirror(tmp_path, mirror, monkeypatch) -> None:
    missing = (tmp_path / "nowhere").as_uri() + "/"
    monkeypatch.setattr(mnist_module, "MIRRORS", [missing, mirror.as_uri() + "/"])
    assert mnist(tmp_path / "root", download=True)[1].shape == (12,)


def test_checksum_mismatch_is_refused_and_nothing_is_kept(tmp_path, mirror, monkeypatch) -> None:
    wrong = dict(mnist_module.SHA256, **{"train-labels-idx1-ubyte.gz": "0" * 64})
    monkeypatch.setattr(mnist_module, "SHA256", wrong)
    with pytest.raises(RuntimeError, match="could not download train-labels-idx1-ubyte.gz") as info:
        mnist(tmp_path / "root", download=True)
    assert "SHA-256" in str(info.value) and "by hand" in str(info.value)
    assert str(tmp_path / "root") in str(info.value)
    assert [p.name for p in (tmp_path / "root").iterdir()] == ["train-images-idx3-ubyte.gz"]


def test_interrupted_download_leaves_nothing(tmp_path, mirror, monkeypatch) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int = -1) -> bytes:
            if self.tell() > 0:
                raise ConnectionResetError("connection reset by peer")
            return super().read(10)

    monkeypatch.setattr(mnist_module.urllib.request, "urlopen",
                        lambda url, timeout: Broken(b"x" * 100))
    with pytest.raises(RuntimeError, match="connection reset by peer"):
        mnist(tmp_path / "root", download=True)
    assert list((tmp_path / "root").iterdir()) == []


def test_offline_error_lists_urls_and_where_to_put_files(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(mnist_module, "MIRRORS", [(tmp_path / "offline").as_uri() + "/"])
    with pytest.raises(RuntimeError) as info:
        mnist(tmp_path / "root", download=True)
    message = str(info.value)
    assert "offline/train-images-idx3-ubyte.gz" in message
    assert f"into {tmp_path / 'root'} by hand" in message


def test_real_mnist_subset(mnist_dir: Path) -> None:
    X_train, y_train = mnist(mnist_dir, train=True)
    X_test, y_test = mnist(mnist_dir, train=False)
    assert X_train.shape == (4000, 784) and X_test.shape == (1000, 784)
    np.testing.assert_array_equal(np.bincount(y_train), [400] * 10)
    np.testing.assert_array_equal(np.bincount(y_test), [100] * 10)
    assert X_train.min() == 0.0 and X_train.max() == 1.0 and X_train.dtype == np.float32
    assert 0.1 < X_train.mean() < 0.15  # MNIST's mean pixel is about 0.13
    for line in (mnist_dir / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        assert hashlib.sha256((mnist_dir / name).read_bytes()).hexdigest() == digest
