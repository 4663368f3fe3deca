"""tools/benchmark.py and tools/gpu/bench_gpu.py.

* the benchmark runs end to end on a tiny model + tiny baseline and writes its three
  outputs with every field; activation checkpointing lowers the measured memory of a
  training step (asserted as "lower" only; timings are not asserted);
* in-place activations are safe in the pre-activation units (same outputs and gradients);
* the plain-torch models of the GPU script ARE mmseg's: mmseg's state dicts load strictly
  and the outputs agree, and the script runs on CPU at a tiny size.
"""

import importlib.util
import json
import os.path as osp
import sys

import pytest
import torch

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _load(name: str, rel: str):
    spec = importlib.util.spec_from_file_location(name, osp.join(ROOT, rel))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


benchmark = _load('wider_mm_tools_benchmark', 'tools/benchmark.py')
bench_gpu = _load('wider_mm_tools_bench_gpu', 'tools/gpu/bench_gpu.py')

WIDTH = 0.0625
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


@pytest.fixture(autouse=True, scope='module')
def _one_thread():
    """One torch thread: on 2 cores shared with other jobs, 2 OpenMP threads can stall."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tiny_run(tmp_path_factory):
    out = str(tmp_path_factory.mktemp('bench'))
    return out, benchmark.main(TINY_ARGS + ['--out-dir', out])


def test_writes_three_outputs_with_all_fields(tiny_run):
    out, result = tiny_run
    with open(osp.join(out, 'benchmark.json')) as f:
        saved = json.load(f)
    assert saved['rows'] == json.loads(json.dumps(result['rows']))
    assert {'cpu', 'cores', 'torch', 'device'} <= set(saved['machine'])
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
    assert rows[('WRN', 'with_cp')]['vs_base']['train_time'] > 0
    goal = saved['goal']['variants']
    assert [g['variant'] for g in goal] == ['with_cp', 'memory_efficient']
    assert all(isinstance(g['met'], bool) for g in goal)

    with open(osp.join(out, 'benchmark.md')) as f:
        md = f.read()
    assert 'Measured on' in md and 'CPU' in md
    table = [ln for ln in md.splitlines() if ln.startswith('| ')]
    assert len(table) == 1 + 4 and 'train peak (MiB)' in table[0]
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


def test_memory_efficient_needs_wider_resnet_units():
    options = {k: int(v) for k, v in (o.split('=', 1) for o in TINY_R101)}
    subject = benchmark.Subject(
        benchmark.ModelSpec('r', 'baseline', 'seg', cfg_options=options),
        (64, 64),
        1,
        'cpu',
    )
    with pytest.raises(SystemExit, match='no memory-efficient units'):
        subject.apply(('memory_efficient',))


def test_refuses_to_overwrite_outputs(tiny_run):
    with pytest.raises(SystemExit):
        benchmark.parse_args(TINY_ARGS + ['--out-dir', tiny_run[0]])
    args = benchmark.parse_args(TINY_ARGS + ['--out-dir', tiny_run[0], '--force'])
    assert args.force


def test_bad_inputs_say_what_to_do():
    with pytest.raises(SystemExit, match='with_cp'):
        benchmark.parse_variant('checkpoint')
    with pytest.raises(SystemExit, match='block range'):
        benchmark.parse_variant('bf16:B2')
    assert benchmark.parse_variant('with_cp:B2-B4+bf16') == ('with_cp:B2-B4', 'bf16')
    with pytest.raises(SystemExit, match='not found'):
        benchmark.resolve_config('mmseg::deeplabv3/no_such_config.py')
    with pytest.raises(SystemExit, match='key=value'):
        benchmark.parse_backbone_spec('depth38')


@pytest.mark.parametrize('with_cp', [False, True])
def test_inplace_activations_are_safe_in_preact_units(with_cp):
    from wider_mm import WiderResNet

    kw = dict(
        depth=38,
        variant='a1',
        output_stride=8,
        widen_factor=WIDTH,
        with_cp=with_cp,
        out_indices=(2, 6),
    )
    ref = WiderResNet(**kw).train()
    inp = WiderResNet(**kw, act_cfg=dict(type='ReLU', inplace=True)).train()
    inp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 32, 32)
    grads = []
    for model in (ref, inp):
        xi = x.clone().requires_grad_()
        outs = model(xi)
        sum(o.square().mean() for o in outs).backward()
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(ref(x), inp(x)):
        torch.testing.assert_close(a, b)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def _mmseg_model(backbone=None, cfg_options=()):
    options = dict(o.split('=', 1) for o in cfg_options)
    options = {k: int(v) for k, v in options.items()}
    spec = benchmark.ModelSpec('m', 'candidate', 'seg', backbone=backbone, cfg_options=options)
    model, _, _ = benchmark.build_model(spec, (64, 64), 'cpu')
    return model.eval()


def _check_same(mm_model, plain):
    state = {
        k: v for k, v in mm_model.state_dict().items() if not k.startswith('data_preprocessor.')
    }
    plain.load_state_dict(state, strict=True)
    plain.eval()
    x = torch.rand(1, 3, 64, 96)
    with torch.no_grad():
        feats = mm_model.extract_feat(x)
        mm_out = (mm_model.decode_head(feats), mm_model.auxiliary_head(feats))
        out = plain(x)
    for a, b in zip(mm_out, out):
        torch.testing.assert_close(a, b)


def test_gpu_script_resnet101_d8_is_mmseg_deeplabv3_r101_d8():
    width = 0.125  # ResNet stem/base 8 channels; ASPP 64, auxiliary 32 channels
    options = [
        'model.backbone.stem_channels=8',
        'model.backbone.base_channels=8',
        'model.decode_head.in_channels=256',
        'model.decode_head.channels=64',
        'model.auxiliary_head.in_channels=128',
        'model.auxiliary_head.channels=32',
    ]
    _check_same(_mmseg_model(cfg_options=options), bench_gpu.build('r101-d8', width))


def test_gpu_script_wrn38_is_wider_resnet_in_mmseg_deeplabv3():
    width = 0.125
    backbone = dict(
        depth=38,
        variant='a1',
        output_stride=8,
        widen_factor=width,
        norm_cfg=dict(type='BN', eps=1.001e-5, requires_grad=True),
    )
    options = ['model.decode_head.channels=64', 'model.auxiliary_head.channels=32']
    _check_same(_mmseg_model(backbone, options), bench_gpu.build('wrn38a1-d8', width))


def test_gpu_script_runs_on_cpu(tmp_path):
    result = bench_gpu.main(
        [
            '--device',
            'cpu',
            '--size',
            '64',
            '128',
            '--width',
            '0.125',
            '--warmup',
            '0',
            '--repeats',
            '1',
            '--out-dir',
            str(tmp_path),
        ]
    )
    rows = {(r['model'], r['variant']) for r in result['rows']}
    assert rows == {(m, v) for m in ('wrn38a1-d8', 'r101-d8') for v in ('base', 'with_cp')}
    assert all(r['step_s'] > 0 and r['img_s'] > 0 for r in result['rows'])
    with pytest.raises(SystemExit):  # the ASPP pooling branch's BN needs 2+ samples
        bench_gpu.parse_args(['--device', 'cpu', '--batch', '1'])
    assert osp.isfile(tmp_path / 'gpu_bench.json') and osp.isfile(tmp_path / 'gpu_bench.md')
