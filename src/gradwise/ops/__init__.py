"""The ``Function`` classes behind :mod:`gradwise.functional`, one file per kind of op.

Each op has a ``forward`` on raw arrays and a ``backward`` that applies the chain rule; each
docstring states what it computes and its derivative. :mod:`gradwise.functional` is the public
interface to them.
"""
