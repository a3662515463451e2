"""Shared test fixtures: the location of ../shared/data, skipped with a reason when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# in-process `jaxnas` CLI calls would otherwise turn on the persistent compilation cache in
# ~/.cache for the rest of the session; tests/test_cli.py checks the cache explicitly
os.environ.setdefault("JAXNAS_COMPILE_CACHE", "none")

# the CPU flags the jaxnas command line uses (speed only), set before any test starts JAX
from jaxnas.cpu_tuning import tune_xla_flags  # noqa: E402

tune_xla_flags()

SHARED_DATA = Path(
    os.environ.get("JAXNAS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")
)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The repository's real benchmark tables and images (../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"needs the shared data folder {SHARED_DATA} (absent in a user's clone)")
    return SHARED_DATA
