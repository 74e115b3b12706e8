"""DataLoader: batching, shuffling, drop_last, lazy (memory-mapped) arrays, datasets, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gradwise as gw
from gradwise.data import DataLoader


def arrays(n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    return np.arange(2 * n, dtype=np.float32).reshape(n, 2), np.arange(n, dtype=np.int64)


def epoch_rows(loader: DataLoader) -> list[np.ndarray]:
    return [yb for _, yb in loader]


def test_batches_in_order_with_short_last_batch() -> None:
    X, y = arrays(10)
    loader = DataLoader((X, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == len(batches) == 3
    assert [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    for xb, yb in batches:
        assert isinstance(xb, np.ndarray) and isinstance(yb, np.ndarray)
        np.testing.assert_array_equal(xb, X[yb])
        assert xb.dtype == np.float32 and yb.dtype == np.int64


def test_drop_last() -> None:
    loader = DataLoader(arrays(10), batch_size=4, drop_last=True)
    assert len(loader) == 2
    assert [len(yb) for yb in epoch_rows(loader)] == [4, 4]
    assert len(DataLoader(arrays(8), batch_size=4, drop_last=True)) == 2


def test_batch_size_none_is_the_full_batch() -> None:
    X, y = arrays(7)
    (batch,) = list(DataLoader((X, y), batch_size=None, shuffle=True, generator=0))
    assert len(batch[1]) == 7
    np.testing.assert_array_equal(batch[1], np.arange(7))  # one batch, rows sorted


def test_batch_size_one_is_single_point_sgd() -> None:
    loader = DataLoader(arrays(5), batch_size=1, shuffle=True, generator=3)
    rows = epoch_rows(loader)
    assert len(loader) == 5 and all(r.shape == (1,) for r in rows)
    assert sorted(int(r[0]) for r in rows) == list(range(5))


def test_batch_size_larger_than_data() -> None:
    loader = DataLoader(arrays(3), batch_size=10)
    assert len(loader) == 1 and len(epoch_rows(loader)[0]) == 3
    loader = DataLoader(arrays(3), batch_size=10, drop_last=True)  # PyTorch yields no batch
    assert len(loader) == 0 and epoch_rows(loader) == []


def test_single_array_yields_one_tuples() -> None:
    X, _ = arrays(5)
    batches = list(DataLoader(X, batch_size=2))
    assert all(isinstance(b, tuple) and len(b) == 1 for b in batches)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in batches]), X)


def test_shuffle_is_seeded_and_reshuffles_every_epoch() -> None:
    data = arrays(50)
    a = DataLoader(data, batch_size=8, shuffle=True, generator=123)
    b = DataLoader(data, batch_size=8, shuffle=True, generator=123)
    epochs_a = [np.concatenate(epoch_rows(a)) for _ in range(3)]
    epochs_b = [np.concatenate(epoch_rows(b)) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
        assert sorted(ea.tolist()) == list(range(50))  # every sample once per epoch
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[1], epochs_a[2])
    other = DataLoader(data, batch_size=8, shuffle=True, generator=124)
    assert not np.array_equal(np.concatenate(epoch_rows(other)), epochs_a[0])


def test_shuffled_batch_indices_are_sorted_within_a_batch() -> None:
    for yb in epoch_rows(DataLoader(arrays(40), batch_size=7, shuffle=True, generator=0)):
        assert np.all(np.diff(yb) > 0)


def test_generator_object_and_state_checkpoint() -> None:
    gen = np.random.default_rng(5)
    loader = DataLoader(arrays(30), batch_size=4, shuffle=True, generator=gen)
    assert loader.generator is gen
    epoch_rows(loader)
    saved = gen.bit_generator.state
    second = np.concatenate(epoch_rows(loader))
    third = np.concatenate(epoch_rows(loader))
    fresh = DataLoader(arrays(30), batch_size=4, shuffle=True, generator=999)
    fresh.generator.bit_generator.state = saved
    np.testing.assert_array_equal(np.concatenate(epoch_rows(fresh)), second)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(fresh)), third)


def test_default_generator_follows_manual_seed() -> None:
    gw.manual_seed(11)
    first = np.concatenate(epoch_rows(DataLoader(arrays(20), batch_size=5, shuffle=True)))
    gw.manual_seed(11)
    again = np.concatenate(epoch_rows(DataLoader(arrays(20), batch_size=5, shuffle=True)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, np.arange(20))


def test_a_loader_built_before_manual_seed_follows_the_seed() -> None:
    early = DataLoader(arrays(20), batch_size=5, shuffle=True)  # holds the default generator
    held = gw.backend.default_generator("cpu")
    gw.manual_seed(11)
    first = np.concatenate(epoch_rows(early))
    gw.manual_seed(11)
    again = np.concatenate(epoch_rows(early))
    late = np.concatenate(epoch_rows(DataLoader(arrays(20), batch_size=5, shuffle=True)))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, late)  # the generator moved on: no reseed in between
    gw.manual_seed(11)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(early)), first)
    assert gw.backend.default_generator("cpu") is held
    seeded = DataLoader(arrays(20), batch_size=5, shuffle=True, generator=11)
    np.testing.assert_array_equal(np.concatenate(epoch_rows(seeded)), first)


def test_lists_are_converted_to_arrays() -> None:
    (xb, yb), = list(DataLoader(([[1.0, 2.0], [3.0, 4.0]], [0, 1]), batch_size=None))
    np.testing.assert_array_equal(xb, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(yb, [0, 1])


@pytest.mark.parametrize("shuffle", [False, True])
def test_memmap_batches_are_in_memory_arrays(tmp_path, shuffle: bool) -> None:
    X, y = arrays(25)
    np.save(tmp_path / "x.npy", X)
    np.save(tmp_path / "y.npy", y)
    Xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    ym = np.load(tmp_path / "y.npy", mmap_mode="r")
    loader = DataLoader((Xm, ym), batch_size=6, shuffle=shuffle, generator=0)
    seen = []
    for xb, yb in loader:
        assert type(xb) is np.ndarray and type(yb) is np.ndarray
        assert not np.shares_memory(xb, Xm) and not np.shares_memory(yb, ym)  # copied out
        np.testing.assert_array_equal(xb, X[yb])
        seen.extend(yb.tolist())
    assert sorted(seen) == list(range(25))


class CountingMemmap(np.memmap):
    """A memmap view that records how many rows each read asks for, and checks their order."""

    reads: list[int]

    def __getitem__(self, index: slice | np.ndarray) -> np.ndarray:
        rows = np.arange(len(self))[index]
        assert np.all(np.diff(rows) > 0), "rows must be asked for in increasing order"
        self.reads.append(len(rows))
        return super().__getitem__(index)


@pytest.mark.parametrize("shuffle", [False, True])
def test_memmap_is_read_one_batch_at_a_time(tmp_path, shuffle: bool) -> None:
    X, y = arrays(100)
    np.save(tmp_path / "x.npy", X)
    counted = np.load(tmp_path / "x.npy", mmap_mode="r").view(CountingMemmap)
    counted.reads = []
    loader = DataLoader((counted, y), batch_size=16, shuffle=shuffle, generator=1)
    for xb, yb in loader:
        assert type(xb) is np.ndarray
        np.testing.assert_array_equal(xb, X[yb])
    assert counted.reads == [16] * 6 + [4]  # never the whole array, each row read once


class PairDataset:
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, int]:
        if not 0 <= i < self.n:
            raise IndexError(i)
        return np.full(3, i, dtype=np.float32), i


def test_dataset_object_items_are_stacked() -> None:
    loader = DataLoader(PairDataset(7), batch_size=3, shuffle=True, generator=2)
    batches = list(loader)
    assert len(loader) == 3
    for xb, yb in batches:
        assert xb.shape == (len(yb), 3) and xb.dtype == np.float32
        np.testing.assert_array_equal(xb[:, 0], yb)
    assert sorted(np.concatenate([yb for _, yb in batches]).tolist()) == list(range(7))


def test_list_of_samples_is_a_dataset() -> None:
    samples = [(np.array([i, i]), i % 2) for i in range(4)]
    xb, yb = next(iter(DataLoader(samples, batch_size=None)))
    assert xb.shape == (4, 2)
    np.testing.assert_array_equal(yb, [0, 1, 0, 1])


def test_dataset_items_with_different_field_counts_are_an_error() -> None:
    class Ragged:
        def __len__(self) -> int:
            return 3

        def __getitem__(self, i: int) -> tuple[object, ...]:
            return (np.zeros(2), 0) if i != 2 else (np.zeros(2),)

    with pytest.raises(ValueError, match=r"dataset\[2\] has 1 fields but dataset\[0\] has 2"):
        list(DataLoader(Ragged(), batch_size=3))


def test_different_lengths_name_the_lengths() -> None:
    with pytest.raises(ValueError, match="array 0 has 100, array 1 has 99"):
        DataLoader((np.zeros((100, 2)), np.zeros(99)))


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "32"])
def test_bad_batch_size(bad: object) -> None:
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1 or None"):
        DataLoader(arrays(5), batch_size=bad)  # type: ignore[arg-type]


def test_other_errors() -> None:
    with pytest.raises(TypeError, match="generator must be"):
        DataLoader(arrays(5), generator="seed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no samples"):
        DataLoader((np.zeros((0, 2)), np.zeros(0)))
    with pytest.raises(ValueError, match="empty tuple"):
        DataLoader(())
    with pytest.raises(ValueError, match="scalar"):
        DataLoader((np.zeros(3), np.float32(1.0)))
    with pytest.raises(TypeError, match="got int"):
        DataLoader(5)
    with pytest.raises(TypeError, match="array 1 is a dict, which does not convert"):
        DataLoader((np.zeros(2), {"a": 1}))


@given(
    n=st.integers(1, 60),
    batch_size=st.one_of(st.none(), st.integers(1, 70)),
    drop_last=st.booleans(),
    shuffle=st.booleans(),
)
def test_len_matches_iteration(n: int, batch_size: int | None, drop_last: bool, shuffle: bool):
    loader = DataLoader(arrays(n), batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                        generator=0)
    rows = epoch_rows(loader)
    assert len(rows) == len(loader)
    size = n if batch_size is None else batch_size  # drop_last drops a short first batch too
    assert sum(len(r) for r in rows) == ((n // size) * size if drop_last else n)
    seen = np.concatenate(rows).tolist() if rows else []
    assert len(set(seen)) == len(seen)
