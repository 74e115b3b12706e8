"""PyTorch for the cross-checks: they skip where torch is missing, except where the environment
says it must be there (``GRADWISE_REQUIRE_TORCH=1``, set by ``.ci/run``): there they fail, so
CI cannot pass with the cross-checks silently skipped."""

from __future__ import annotations

import os
from types import ModuleType

import pytest


def import_torch() -> ModuleType:
    """``torch``, or a skip of the calling test (module level: of the whole module)."""
    try:
        import torch
    except ImportError as e:
        if os.environ.get("GRADWISE_REQUIRE_TORCH") == "1":
            pytest.fail(f"GRADWISE_REQUIRE_TORCH=1 but torch cannot be imported: {e}",
                        pytrace=False)
        pytest.skip("torch is not installed (pip install -e '.[test]')", allow_module_level=True)
    return torch
