"""tools/analysis/model_complexity.py: the parameters/FLOPs report, at a tiny width."""

import json

import pytest
from common import load_tool

complexity = load_tool('analysis/model_complexity')

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
    assert table == result['markdown'] and table in capsys.readouterr().out
    assert json.loads((tmp_path / 'complexity.json').read_text())['rows'] == result['rows']
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
    with pytest.raises(SystemExit):
        complexity.parse_args(['--out', str(tmp_path / 'x.txt')])
