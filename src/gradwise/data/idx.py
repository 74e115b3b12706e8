"""MNIST (LeCun, Bottou, Bengio and Haffner 1998, "Gradient-based learning applied to document
recognition") from its IDX files, gzipped or not, with an optional checked download.

An IDX file is a big-endian header, ``0x00 0x00 <type code> <ndim>`` then ``ndim`` uint32 sizes,
followed by the ``prod(sizes)`` values; MNIST's images have magic number 2051 (ubyte, 3 dims)
and its labels 2049 (ubyte, 1 dim).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..io import atomic_path
from .files import check_inflation

__all__ = ["FILES", "MIRRORS", "SHA256", "mnist", "read_idx"]

_IDX_TYPES: dict[int, np.dtype[Any]] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049

FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# The SHA-256 of the official gzipped files (those torchvision and TensorFlow fetch), as sha256sum
# prints them.
_SHA256SUMS = """
440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609  train-images-idx3-ubyte.gz
3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c  train-labels-idx1-ubyte.gz
8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6  t10k-images-idx3-ubyte.gz
f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6  t10k-labels-idx1-ubyte.gz
"""
SHA256 = {name: digest for digest, name in map(str.split, _SHA256SUMS.strip().splitlines())}
MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
]
PathLike = str | os.PathLike[str]


# Deflate cannot compress better than about 1032:1, so a gzip file of c bytes inflates to at
# most about 1032 * c bytes: a header promising more is a lie, refused before inflating.
_MAX_DEFLATE_RATIO = 1032


def _read_exactly(f: Any, n: int) -> bytes:
    """Up to ``n`` bytes from the stream ``f`` (fewer only at its end), read in chunks."""
    parts, left = [], n
    while left > 0:
        chunk = f.read(min(left, 1 << 20))
        if not chunk:
            break
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def _parse_idx(path: Path) -> tuple[int, np.ndarray]:
    """Parse an IDX file, gzipped or not, streaming: the header is read first and at most the
    bytes it promises (plus one, to detect extra data) are ever inflated, so a gzip bomb
    cannot exhaust memory."""
    size = path.stat().st_size
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == b"\x1f\x8b"
    try:
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as f:
            head = _read_exactly(f, 4)
            if len(head) < 4 or head[:2] != b"\0\0" or head[2] not in _IDX_TYPES:
                raise DataError(
                    f"{path}: not an IDX file (header starts {head.hex() or 'empty'}; expected "
                    f"00 00, a type code among {[hex(c) for c in _IDX_TYPES]}, and the number "
                    "of dims)")
            magic, ndim, dtype = int.from_bytes(head, "big"), head[3], _IDX_TYPES[head[2]]
            dims = _read_exactly(f, 4 * ndim)
            if len(dims) < 4 * ndim:
                raise DataError(f"{path}: header promises {ndim} dims but the file ends after "
                                f"{4 + len(dims)} bytes")
            shape = tuple(int(v) for v in np.frombuffer(dims, dtype=">u4"))
            expected = math.prod(shape) * dtype.itemsize
            limit = size * _MAX_DEFLATE_RATIO if gzipped else size
            if expected > limit:
                raise DataError(
                    f"{path}: header promises shape {shape} ({expected} bytes), more than a "
                    f"{size}-byte {'gzip ' if gzipped else ''}file can hold")
            if gzipped:
                check_inflation(path, f"the gzip data (shape {shape})", size, expected)
            body = _read_exactly(f, expected + 1)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, FileNotFoundError | IsADirectoryError | PermissionError):
            raise
        raise DataError(f"{path}: corrupt gzip data ({exc})") from None
    if len(body) != expected:
        total = 4 + 4 * ndim + expected
        have = ("more data than that (stopped reading there)" if len(body) > expected
                else f"{4 + 4 * ndim + len(body)} bytes")
        raise DataError(f"{path}: header promises shape {shape} ({total} bytes) but the data "
                        f"has {have}")
    try:
        array = np.frombuffer(body, dtype=dtype).reshape(shape)
    except ValueError:  # e.g. (0, 3e9, 3e9): empty, yet too big for NumPy to describe
        raise DataError(f"{path}: header promises shape {shape}, which NumPy cannot "
                        "hold") from None
    return magic, array.astype(dtype.newbyteorder("="))


def read_idx(path: PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), after checking that the file's length
    equals what its header promises."""
    return _parse_idx(Path(path))[1]


def _find(name: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    return None


def _locate(names: tuple[str, str], folders: list[Path]) -> list[Path]:
    found = [(name, _find(name, folders)) for name in names]
    missing = [f"{name}[.gz]" for name, path in found if path is None]
    if missing:
        raise FileNotFoundError(
            f"MNIST files missing: {', '.join(missing)} not found in "
            f"{' or '.join(str(f) for f in folders)}. Put the files (gzipped or not) into "
            f"{folders[0]}, or call mnist(..., download=True) to fetch them from {MIRRORS[0]}"
        )
    return [path for _, path in found if path is not None]


def _fetch(name: str, folder: Path) -> None:
    """Download ``name`` from the first mirror that serves the official bytes; write it
    atomically (temporary file, fsync, rename) so a failure leaves nothing behind."""
    failures = []
    for mirror in MIRRORS:
        url = mirror + name
        try:
            with atomic_path(folder / name) as tmp:
                digest = hashlib.sha256()
                with tmp.open("wb") as out, urllib.request.urlopen(url, timeout=30) as response:
                    while chunk := response.read(1 << 16):
                        digest.update(chunk)
                        out.write(chunk)
                if digest.hexdigest() != SHA256[name]:
                    raise ValueError(f"SHA-256 {digest.hexdigest()} != expected {SHA256[name]}")
            return
        except (OSError, ValueError) as exc:
            failures.append(f"  {url}: {exc}")
    raise RuntimeError(
        f"could not download {name}:\n" + "\n".join(failures) + f"\nput the official {name} "
        f"(SHA-256 {SHA256[name]}) into {folder} by hand"
    )


def mnist(
    root: PathLike,
    train: bool = True,
    download: bool = False,
    cache_dir: PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The MNIST training set (``train=True``) or test set as ``(X, y)``: ``X`` float32
    (n, 784) with pixel values ``x / 255`` in [0, 1], ``y`` int64 digits 0 to 9.

    The IDX files (``train-images-idx3-ubyte[.gz]`` etc.) are looked for in ``root``, then in
    ``cache_dir``. With ``download=True``, missing files are fetched from :data:`MIRRORS` into
    ``cache_dir`` (default ``root``) and kept only when their SHA-256 matches :data:`SHA256`.
    """
    folders = [Path(root)] + ([Path(cache_dir)] if cache_dir is not None else [])
    target = folders[-1]
    if download:
        for split_names in FILES.values():
            for name in split_names:
                if _find(name, folders) is None:
                    _fetch(f"{name}.gz", target)
    images_path, labels_path = _locate(FILES[bool(train)], folders)
    magic, images = _parse_idx(images_path)
    if magic != IMAGES_MAGIC or images.shape[1:] != (28, 28):
        raise DataError(
            f"{images_path}: expected MNIST images (magic {IMAGES_MAGIC}, shape (n, 28, 28)), "
            f"got magic {magic} and shape {images.shape}"
        )
    magic, labels = _parse_idx(labels_path)
    if magic != LABELS_MAGIC or labels.ndim != 1:
        raise DataError(
            f"{labels_path}: expected MNIST labels (magic {LABELS_MAGIC}, shape (n,)), "
            f"got magic {magic} and shape {labels.shape}"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels"
        )
    if labels.size and labels.max() > 9:
        raise DataError(f"{labels_path}: labels must be digits 0 to 9, found {labels.max()}")
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return X, labels.astype(np.int64)
