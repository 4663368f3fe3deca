"""Shared test setup: import wider_mm once (registers everything), fix seeds."""

import pytest
import torch

import wider_mm  # noqa: F401

# One thread: most tests run tiny widths, where OpenMP sync costs more than it gains, and
# the launcher tests run several processes on the 2 cores.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
