"""wider_mm.analysis.complexity: the counts against the paper's reference numbers."""

import pytest
import torch

from wider_mm.analysis import complexity

WIDTH = 0.0625


def test_reference_checks_at_full_width():
    rows = [
        complexity.Row('WRN-38 A', 'wider_mm', 224, 32, 105_070_912, None, 49.55, 27.2, 0),
        complexity.Row('WRN-16 A', 'wider_mm', 224, 32, 59_635_000, None, 12.5, 13.0, 0),
    ]
    lines = '\n'.join(complexity.reference_checks(rows, 1.0, 224))
    assert (
        'WRN-38 (every variant, every stride): backbone parameters match the reference 105,070,912'
        in lines
    )
    assert 'DIFFER' in lines and '49.55 G' in lines and 'agrees' in lines


def _counted_gmacs(width: float, size: int = 224) -> float:
    """G multiply-adds of WRN-38 Model A, counted by torch's FLOP counter (2 FLOPs per
    multiply-add) on the meta device: shapes only, so full width costs no memory or time."""
    from torch.utils.flop_counter import FlopCounterMode

    from wider_mm import WiderResNet

    with torch.device('meta'):
        model = WiderResNet(38, 'a', widen_factor=width).eval()
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, 3, size, size))
    return counter.get_total_flops() / 2e9


def test_model_a_multiply_adds_match_the_paper():
    """The paper's 49.5 G multiply-adds of WRN-38 Model A at 224x224, counted (within 1%)."""
    gmacs = _counted_gmacs(1.0)
    assert gmacs == pytest.approx(complexity.REFERENCE_D38A_GMACS, rel=0.01)
    row = complexity.Row('WRN-38 A', 'wider_mm', 224, 32, 0, None, gmacs, 0.0, 0)
    assert 'agrees' in '\n'.join(complexity.reference_checks([row], 1.0, 224))
    # the table's counter (mmengine's) counts the same convolutions at a small width; its
    # few extra non-conv operations weigh more there than at full width (0.1%)
    row = complexity.measure('WRN-38 A', 'wider_mm', lambda: _wrn(38, 'a', WIDTH), 224, 32, None)
    assert row.gflops == pytest.approx(_counted_gmacs(WIDTH), rel=0.02)


def _wrn(depth, variant, width):
    from wider_mm import WiderResNet

    return WiderResNet(depth, variant, widen_factor=width)
