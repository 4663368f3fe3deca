"""tools/benchmark.py end to end on a tiny model + tiny baseline.

Writes its three outputs with every field; activation checkpointing and memory-efficient
units lower the measured memory of a training step (asserted as "lower" only; timings are
not asserted).
"""

import json
import os.path as osp

import pytest
from common import load_tool

benchmark = load_tool('benchmark')

WIDTH = 0.0625
BASELINE = 'deeplabv3_r101-d8_4xb2-40k_cityscapes-512x1024'
# deeplabv3_r101-d8 at 1/8 width (ResNet stem/base 8 channels -> C3 128, C4 256 channels).
TINY_R101 = [
    'model.backbone.stem_channels=8',
    'model.backbone.base_channels=8',
    'model.decode_head.in_channels=256',
    'model.decode_head.channels=16',
    'model.auxiliary_head.in_channels=128',
    'model.auxiliary_head.channels=16',
]
TINY_ARGS = [
    '--backbone',
    f'depth=38,variant=a1,output_stride=8,widen_factor={WIDTH}',
    '--task',
    'seg',
    '--cfg-options',
    'model.decode_head.channels=16',
    'model.auxiliary_head.channels=16',
    '--baseline-cfg-options',
    *TINY_R101,
    '--size',
    '160',
    '160',
    '--batch',
    '2',
    '--variants',
    'base',
    'with_cp',
    'memory_efficient',
    '--warmup',
    '1',
    '--repeats',
    '1',
    '--mem-repeats',
    '1',
    '--threads',
    '1',
]


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('bench'))
    return out, benchmark.main(TINY_ARGS + ['--out-dir', out])


def test_writes_three_outputs_with_all_fields(tiny_run):
    out, result = tiny_run
    with open(osp.join(out, 'benchmark.json')) as f:
        saved = json.load(f)
    assert saved['rows'] == json.loads(json.dumps(result['rows']))
    assert {'cpu', 'cores', 'PyTorch', 'device', 'MMEngine'} <= set(saved['machine'])
    rows = {(r['model'].split()[0], r['variant']): r for r in saved['rows']}
    assert set(rows) == {
        ('WRN', 'base'),
        ('WRN', 'with_cp'),
        ('WRN', 'memory_efficient'),
        ('deeplabv3_r101-d8_4xb2-40k_cityscapes-512x1024', 'base'),
    }
    always = [
        'params_m',
        'backbone_params_m',
        'gflops_per_img',
        'train_step_s',
        'train_img_s',
        'train_peak_mb',
        'train_step_mb',
    ]
    for (_, variant), r in rows.items():
        for k in always + (
            ['infer_ms_per_img', 'infer_img_s', 'infer_peak_mb'] if variant == 'base' else []
        ):
            assert isinstance(r[k], float) and r[k] > 0, (variant, k, r[k])
        assert r['train_peak_mb'] >= r['train_step_mb']
    wrn = rows[('WRN', 'base')]
    # the candidate really is the tiny WRN-38 in mmseg's DeepLabV3 (heads fitted to it)
    from wider_mm import WiderResNet

    expected = sum(p.numel() for p in WiderResNet(38, 'a1', widen_factor=WIDTH).parameters())
    assert wrn['backbone_params_m'] == pytest.approx(expected / 1e6)
    ratios = wrn['vs_baseline']['deeplabv3_r101-d8_4xb2-40k_cityscapes-512x1024']
    assert set(ratios) == {'train_time', 'infer_time', 'train_peak_mem', 'params', 'gflops'}
    assert all(v > 0 for v in ratios.values())
    assert rows[('WRN', 'with_cp')]['time_vs_base'] > 0
    for variant in ('with_cp', 'memory_efficient'):  # ratios and their per-round spread
        r = rows[('WRN', variant)]
        assert r['time_vs_base_rounds'] and r['step_mem_vs_base'] < 1 and r['peak_mem_vs_base'] < 1

    with open(osp.join(out, 'benchmark.md')) as f:
        md = f.read()
    assert 'Measured on' in md and 'CPU' in md
    table = [ln for ln in md.splitlines() if ln.startswith('| ')]
    assert len(table) == 1 + 4 and 'train peak (MiB)' in table[0]
    assert f'peak mem vs {BASELINE}' in table[0]
    assert all(ln.count('|') == table[0].count('|') for ln in table)
    with open(osp.join(out, 'benchmark.png'), 'rb') as f:
        png = f.read()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 10_000


def test_with_cp_lowers_training_step_memory(tiny_run):
    rows = {r['variant']: r for r in tiny_run[1]['rows'] if r['role'] == 'candidate'}
    assert rows['with_cp']['train_step_mb'] < rows['base']['train_step_mb']
    assert rows['with_cp']['train_peak_mb'] < rows['base']['train_peak_mb']


def test_memory_efficient_lowers_training_step_memory(tiny_run):
    """Fewer saved activations: the step adds less, the peak is lower.

    Margins: at this size the saving is about 20% of the step (8 MiB), the run-to-run noise
    of the same variant about 1% (0.3 MiB).
    """
    rows = {r['variant']: r for r in tiny_run[1]['rows'] if r['role'] == 'candidate'}
    assert rows['memory_efficient']['train_step_mb'] < 0.9 * rows['base']['train_step_mb']
    assert rows['memory_efficient']['train_peak_mb'] < 0.95 * rows['base']['train_peak_mb']


def test_refuses_to_overwrite_outputs(tiny_run):
    with pytest.raises(SystemExit):
        benchmark.parse_args(TINY_ARGS + ['--out-dir', tiny_run[0]])
    args = benchmark.parse_args(TINY_ARGS + ['--out-dir', tiny_run[0], '--force'])
    assert args.force


def test_bad_arguments_are_refused(tmp_path, capsys):
    out = ['--out-dir', str(tmp_path)]
    for argv, word in (
        (['--task', 'seg'] + out, 'exactly one'),
        (['--backbone', 'depth=38'] + out, '--task'),
        (TINY_ARGS + out + ['--variants', 'with_cp'], 'include base'),
    ):
        with pytest.raises(SystemExit):
            benchmark.parse_args(argv)
        assert word in capsys.readouterr().err
