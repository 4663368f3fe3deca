"""tools/analysis/model_complexity.py: the parameters/FLOPs table, at a tiny width."""

import importlib.util
import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
_spec = importlib.util.spec_from_file_location(
    'wider_mm_tools_model_complexity', osp.join(ROOT, 'tools/analysis/model_complexity.py')
)
complexity = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = complexity  # dataclasses look their module up while it loads
_spec.loader.exec_module(complexity)

WIDTH = 0.0625
ARGS = [
    '--width',
    str(WIDTH),
    '--depths',
    '16',
    '38',
    '--variants',
    'a1',
    '--cls-size',
    '64',
    '--seg-size',
    '64',
    '--baselines',
    'r101-d8',
    'r101',
    '--threads',
    '1',
]


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """One torch thread: on 2 cores shared with other jobs, 2 OpenMP threads can stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_table_rows_and_fields(tmp_path, capsys):
    out = tmp_path / 'complexity.md'
    result = complexity.main(ARGS + ['--out', str(out)])
    rows = {(r['model'], r['input_size']): r for r in result['rows']}
    assert set(rows) == {
        ('WRN-16 A1', 64),
        ('WRN-38 A1', 64),
        ('WRN-16 A1 d8', 64),
        ('WRN-38 A1 d8', 64),
        ('ResNetV1c-101 d8 (deeplabv3_r101-d8)', 64),
        ('ResNet-101', 64),
    }
    from mmpretrain.models.backbones import ResNet

    from wider_mm import WiderResNet

    for depth in (16, 38):
        n = sum(p.numel() for p in WiderResNet(depth, 'a1', widen_factor=WIDTH).parameters())
        cls, seg = rows[(f'WRN-{depth} A1', 64)], rows[(f'WRN-{depth} A1 d8', 64)]
        assert cls['params'] == seg['params'] == n
        assert cls['params_fc1000'] == n + 256 * 1000 + 1000  # 4096 / 16 features
        # same weights, 4x4 larger maps from B5 on: stride 8 costs more than stride 32
        assert seg['gflops'] > cls['gflops'] > 0 and seg['mactivations'] > cls['mactivations']
    assert rows[('WRN-38 A1', 64)]['gflops'] > rows[('WRN-16 A1', 64)]['gflops']
    r101 = ResNet(101, stem_channels=4, base_channels=4)
    assert rows[('ResNet-101', 64)]['params'] == sum(p.numel() for p in r101.parameters())
    assert rows[('ResNetV1c-101 d8 (deeplabv3_r101-d8)', 64)]['source'] == 'mmseg'

    table = out.read_text()
    assert table == result['table'] and table in capsys.readouterr().out
    lines = [ln for ln in table.splitlines() if ln.startswith('| ')]
    assert len(lines) == 1 + len(rows)
    assert 'GFLOPs (= G multiply-adds)' in lines[0] and 'params +FC-1000' in lines[0]
    assert 'full width; not compared' in table and 'do not depend on the machine' in table


def test_refuses_to_overwrite_and_checks_width(tmp_path):
    out = tmp_path / 'x.md'
    out.write_text('mine')
    with pytest.raises(SystemExit):
        complexity.parse_args(['--out', str(out)])
    assert out.read_text() == 'mine'
    with pytest.raises(SystemExit):
        complexity.parse_args(['--width', '0'])


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
