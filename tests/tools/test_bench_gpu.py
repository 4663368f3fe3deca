"""tools/gpu/bench_gpu.py: torchvision's deeplabv3_resnet101 against WiderResNet under the
same torchvision heads, smoke-run on CPU at a tiny size."""

import pytest
import torch
from common import load_tool

bench_gpu = load_tool('gpu/bench_gpu')


def test_models_share_torchvision_heads():
    from torchvision.models.segmentation.deeplabv3 import DeepLabHead
    from torchvision.models.segmentation.fcn import FCNHead

    from wider_mm import WiderResNet

    wrn, r101 = bench_gpu.build('wrn38a1-d8', 0.0625), bench_gpu.build('deeplabv3_resnet101')
    for m in (wrn, r101):
        assert isinstance(m.classifier, DeepLabHead) and isinstance(m.aux_classifier, FCNHead)
    assert isinstance(wrn.backbone.body, WiderResNet)
    assert r101.backbone.layer4[0].conv2.dilation == (2, 2)  # output stride 8
    out = wrn.eval()(torch.rand(1, 3, 32, 32))
    assert out['out'].shape == out['aux'].shape == (1, 19, 32, 32)


def test_runs_on_cpu(tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        result = bench_gpu.main(
            ['--device', 'cpu', '--size', '32', '32', '--width', '0.0625', '--amp', 'none',
             '--warmup', '0', '--repeats', '1', '--variants', 'base', 'memory_efficient',
             '--out-dir', str(tmp_path)]
        )  # fmt: skip
    finally:
        torch.set_num_threads(threads)
    rows = {(r['model'], r['variant']) for r in result['rows']}
    assert rows == {('wrn38a1-d8', 'base'), ('wrn38a1-d8', 'memory_efficient'),
                    ('deeplabv3_resnet101', 'base')}  # fmt: skip
    assert all(r['train_step_s'] > 0 and r['train_img_s'] > 0 for r in result['rows'])
    assert 'vs deeplabv3_resnet101' in result['markdown']
    for ext in ('json', 'md', 'png'):
        assert (tmp_path / f'gpu_bench.{ext}').is_file()
    for argv in (['--batch', '1'], ['--variants', 'bf16'], ['--variants', 'with_cp']):
        with pytest.raises(SystemExit):
            bench_gpu.parse_args(['--device', 'cpu', *argv])
