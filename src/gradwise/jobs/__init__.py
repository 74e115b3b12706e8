"""Jobs: the top layer, which may use every other one (training and the lab together).

``gradwise.cli`` (the command line) and :mod:`gradwise.jobs.train` (``gradwise train``: a run
and its figures) live here; so do the playground server and sweeps.
"""
