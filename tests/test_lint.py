"""The repo's linter and formatter (ruff, configured in pyproject.toml) pass."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-m', 'ruff', *args], cwd=ROOT, capture_output=True, text=True
    )


def test_ruff_check():
    out = _ruff('check', '.')
    assert out.returncode == 0, out.stdout + out.stderr


def test_ruff_format():
    out = _ruff('format', '--check', '.')
    assert out.returncode == 0, out.stdout + out.stderr
