"""Shared test setup: import wider_mm once (registers everything), fix seeds."""

import pytest
import torch

import wider_mm  # noqa: F401

torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
