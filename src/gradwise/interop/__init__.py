"""Leaving and entering gradwise: PyTorch weights (:mod:`.torch`) and ONNX export
(:mod:`gradwise.onnx`). Nothing here is imported by the core; torch and onnx load lazily."""
