"""Collect ``bench_*.py`` files as test modules: ``make bench`` runs ``pytest -q benchmarks``."""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Module | None:
    """Benchmarks are named bench_*.py so that the test suite (testpaths = tests) never runs them."""
    # A file named on the command line is collected by pytest itself already.
    if parent.session.isinitpath(file_path):
        return None
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
        return pytest.Module.from_parent(parent, path=file_path)
    return None
