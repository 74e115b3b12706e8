"""The collectives of ``gradwise.distributed`` under ``mpiexec -n N``; exits non-zero (an
AssertionError) when one is wrong.

    mpiexec -n 3 python tests/mpi/collectives.py
"""

from __future__ import annotations

import numpy as np

import gradwise as gw
from gradwise import distributed, nn, optim


def main() -> None:
    w = distributed.world()
    r, n = w.rank, w.size
    assert n > 1, "run this under mpiexec -n 2 or more"
    gw.set_default_dtype("float64")
    gw.manual_seed(r)  # different weights on every rank...
    model = nn.Sequential(nn.Dense(3, 4), nn.Dense(4, 2))
    distributed.broadcast_parameters(model)  # ...until rank 0's are broadcast
    gw.manual_seed(0)
    want = nn.Sequential(nn.Dense(3, 4), nn.Dense(4, 2))
    for p, q in zip(model.parameters(), want.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    opt = optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())
    # the flat path: gradients from backward, different on every rank; their mean
    model(gw.tensor(np.full((1, 3), r + 1.0))).sum().backward()
    mine = np.concatenate([np.ravel(p.grad) for p in params])
    want_mean = np.mean(distributed.allgather_arrays(mine), axis=0)
    distributed.allreduce_gradients(opt)
    np.testing.assert_allclose(np.concatenate([np.ravel(p.grad) for p in params]), want_mean,
                               rtol=1e-12, atol=1e-15)
    # the per-parameter path: a gradient assigned by hand, and one missing (counted as zero)
    opt.zero_grad()
    params[0].grad = np.full(params[0].shape, float(r))
    distributed.allreduce_gradients(opt, weight=2.0)
    np.testing.assert_allclose(params[0].grad, 2.0 * sum(range(n)))
    np.testing.assert_array_equal(params[1].grad, np.zeros(params[1].shape))
    # sums and gathers
    np.testing.assert_array_equal(distributed.sum_across_ranks(np.array([r, 1.0])),
                                  [sum(range(n)), n])
    parts = distributed.allgather_arrays(np.arange(r, dtype=np.int64))
    assert [p.tolist() for p in parts] == [list(range(k)) for k in range(n)]
    # the ranks on this host divide its cores (gradwise.threads.share_cores)
    from mpi4py import MPI

    here = w.comm.Split_type(MPI.COMM_TYPE_SHARED).Get_size()
    cores = gw.threads.available_cores()
    assert here == n  # mpiexec -n N on one machine
    assert 1 <= gw.get_num_threads() <= max(1, cores // here), (gw.get_num_threads(), cores, here)


if __name__ == "__main__":
    main()
