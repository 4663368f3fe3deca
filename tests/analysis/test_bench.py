"""wider_mm.analysis.bench: variants, errors, ratios, in-place safety (the end-to-end run
with memory is tests/tools/test_benchmark.py)."""

import pytest
import torch

from wider_mm.analysis import bench
from wider_mm.engine.config_checks import ConfigError

WIDTH = 0.0625
TINY_R101 = {  # deeplabv3_r101-d8 at 1/8 width
    'model.backbone.stem_channels': 8,
    'model.backbone.base_channels': 8,
    'model.decode_head.in_channels': 256,
    'model.decode_head.channels': 16,
    'model.auxiliary_head.in_channels': 128,
    'model.auxiliary_head.channels': 16,
}


def test_bad_inputs_say_what_to_do():
    with pytest.raises(ConfigError, match='with_cp'):
        bench.parse_variant('checkpoint')
    with pytest.raises(ConfigError, match='block range'):
        bench.parse_variant('bf16:B2')
    assert bench.parse_variant('with_cp:B2-B4+bf16') == ('with_cp:B2-B4', 'bf16')
    assert bench.parse_variant('base') == ()
    with pytest.raises(ConfigError, match='not found'):
        bench.load_cfg('mmseg::deeplabv3/no_such_config.py')
    with pytest.raises(ConfigError, match='key=value'):
        bench.parse_backbone_spec('depth38')
    assert bench.parse_backbone_spec('depth=38,variant=a1') == dict(depth=38, variant='a1')


def test_variants_switch_flags_on_and_back_and_need_the_units():
    spec = bench.ModelSpec('r', 'baseline', 'seg', cfg_options=TINY_R101)
    subject = bench.MMSubject(spec, (64, 64), 1, 'cpu')
    with pytest.raises(ConfigError, match='no memory-efficient units'):
        subject.apply(('memory_efficient',))
    undo, _ = subject.apply(('with_cp', 'channels_last'))
    flags = [m.with_cp for m in subject.model.backbone.modules() if hasattr(m, 'with_cp')]
    assert flags and all(flags)
    weight = subject.model.backbone.layer1[0].conv1.weight
    assert weight.is_contiguous(memory_format=torch.channels_last)
    undo()
    assert not any(m.with_cp for m in subject.model.backbone.modules() if hasattr(m, 'with_cp'))
    assert weight.is_contiguous()


def test_ratios_are_medians_of_rounds_and_against_baselines():
    def row(model, role, variant, times, peak, step):
        return dict(model=model, role=role, variant=variant, train_step_s_all=times,
                    train_peak_mb=peak, train_step_mb=step, infer_batch_s_all=None,
                    params_m=2.0, gflops_per_img=None)  # fmt: skip

    rows = [
        row('w', 'candidate', 'base', [1.0, 2.0, 4.0], 100.0, 80.0),
        row('w', 'candidate', 'with_cp', [1.5, 2.2, 8.0], 50.0, 20.0),
        row('r', 'baseline', 'base', [2.0, 2.0, 2.0], 200.0, 100.0),
    ]
    bench.add_ratios(rows)
    cp = rows[1]
    assert cp['time_vs_base_rounds'] == pytest.approx([1.5, 1.1, 2.0])
    assert cp['time_vs_base'] == pytest.approx(1.5)
    assert (cp['step_mem_vs_base'], cp['peak_mem_vs_base']) == (0.25, 0.5)
    assert cp['vs_baseline']['r']['train_time'] == pytest.approx(1.1)
    assert cp['vs_baseline']['r']['train_peak_mem'] == 0.25 and cp['peak_mem_vs:r'] == 0.25
    assert cp['vs_baseline']['r']['infer_time'] is None and 'time_vs_base' not in rows[0]
    headers = [c.header for c in bench.table_columns(rows)]
    assert headers[-2:] == ['train time vs r', 'peak mem vs r']

    settings = dict(size=[64, 32], batch=2, repeats=3, warmup=1, memory_method='RSS')
    models = [dict(label='w', notes=['no optim', 'init dropped']), dict(label='r', notes=[])]
    args = bench.report_args(dict(rows=rows, settings=settings, models=models))
    assert [c.header for c in args['columns']] == headers
    assert args['intro'] == (
        'Input 64x32, batch 2, median of 3 interleaved steps after 1 warm-up. Memory: RSS.'
    )
    assert args['notes'] == ['- w: no optim', '- w: init dropped']


@pytest.mark.parametrize('with_cp', [False, True])
def test_inplace_activations_are_safe_in_preact_units(with_cp):
    from wider_mm import WiderResNet

    kw = dict(depth=38, variant='a1', output_stride=8, widen_factor=WIDTH, with_cp=with_cp,
              out_indices=(2, 6))  # fmt: skip
    ref = WiderResNet(**kw).train()
    inp = WiderResNet(**kw, act_cfg=dict(type='ReLU', inplace=True)).train()
    inp.load_state_dict(ref.state_dict())
    x = torch.rand(2, 3, 32, 32)
    grads = []
    for model in (ref, inp):
        xi = x.clone().requires_grad_()
        sum(o.square().mean() for o in model(xi)).backward()
        grads.append([xi.grad] + [p.grad for p in model.parameters()])
    for a, b in zip(ref(x), inp(x)):
        torch.testing.assert_close(a, b)
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b)


def test_misspelt_cfg_option_is_refused_before_the_model_is_built():
    spec = bench.ModelSpec(
        'wrn',
        'candidate',
        'seg',
        config='configs/_base_/models/widerhead_wrn38a1-d8.py',
        cfg_options={'model.backbone.memory_efficent': True},
    )
    with pytest.raises(ConfigError, match="did you mean 'memory_efficient'"):
        bench.build_model(spec, (32, 32), 'cpu')
