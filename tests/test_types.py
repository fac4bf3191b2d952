"""The package type-checks under mypy's strict mode, as configured in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO_ROOT, TIME_UNIT


def test_package_passes_mypy() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120 * TIME_UNIT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
