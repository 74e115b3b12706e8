"""``gradwise`` run under ``mpiexec`` from a folder of each rank's own (``BASE/rankR``), so that a
relative data path in one config reads different files on different ranks, as on two hosts.

    mpiexec -n 2 python tests/mpi/cli_per_rank.py BASE gradwise-arguments...
"""

from __future__ import annotations

import os
import sys

from gradwise.cli import main

rank = int(next((os.environ[k] for k in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK")
                 if k in os.environ), "0"))
os.chdir(os.path.join(sys.argv[1], f"rank{rank}"))
sys.exit(main(sys.argv[2:]))
