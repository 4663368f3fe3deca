"""Tests of configs/classification (mmpretrain ImageClassifier configs of the Wider ResNet).

Every config is loaded with mmengine, built with mmpretrain's registries and mmengine's
``Runner.from_cfg`` at a small width (``widen_factor`` 1/32 or 1/16, head ``in_channels``
taken from the built backbone), and run forward; one is built at full width. A tiny ImageNet-layout
folder dataset made here trains a few iterations through the real Runner and is evaluated
by mmpretrain's real ``ImageNet`` dataset, pipelines and ``Accuracy`` metric. The test
pipelines are checked for their crop sizes, the schedules for their lr curves, the docs
table for agreeing with the metafile, and (when the converter is importable) a
synthetic MXNet / MAP checkpoint converted by ``wider_mm.converters`` loads strictly.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import Runner, load_checkpoint
from mmpretrain.registry import MODELS, PARAM_SCHEDULERS, TRANSFORMS
from mmpretrain.structures import DataSample
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CFG_DIR = ROOT / 'configs' / 'classification'
DOC = ROOT / 'docs' / 'classification.md'
CONFIGS = sorted(p.name for p in CFG_DIR.glob('*.py'))
SMALL = 1 / 16


def load(name: str) -> Config:
    return Config.fromfile(str(CFG_DIR / name))


def num_classes(name: str) -> int:
    return 365 if 'places365' in name else 1000


def crop_of(name: str) -> int:
    return 320 if name.endswith('-test320.py') else 224


def shrink(cfg: Config, widen: float = SMALL) -> Config:
    """Width override; the head's in_channels is what the built backbone emits."""
    cfg.model.backbone.widen_factor = widen
    backbone = MODELS.build(copy.deepcopy(cfg.model.backbone))
    cfg.model.head.in_channels = backbone.out_channels[-1]
    return cfg


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmpretrain')


def test_there_are_configs():
    expected = {
        'wrn16a_8xb32_in1k.py', 'wrn16a1_8xb32_in1k.py', 'wrn20a_8xb32_in1k.py',
        'wrn20a1_8xb32_in1k.py', 'wrn38a_8xb32_in1k.py', 'wrn38a1_8xb32_in1k.py',
        'wrn38a_8xb32_in1k-test320.py', 'wrn38a1_8xb32_in1k-test320.py',
        'wrn38a1_8xb32-ft45k_in1k.py', 'wrn38a-map_8xb32_in1k.py',
        'wrn38a-map_8xb32_in1k-test320.py', 'wrn38a2_8xb32-ft45k_places365.py',
    }  # fmt: skip
    assert expected <= set(CONFIGS)


@pytest.mark.parametrize('name', CONFIGS)
def test_config_contract(name):
    cfg = load(name)
    assert 'wider_mm' in cfg.custom_imports['imports']
    assert cfg.default_scope == 'mmpretrain'
    m = cfg.model
    assert m.type == 'ImageClassifier'
    assert m.backbone.type == 'WiderResNet' and tuple(m.backbone.out_indices) == (6,)
    assert m.neck.type == 'GlobalAveragePooling'
    assert m.head.type == 'LinearClsHead'
    assert (m.head.in_channels, m.head.num_classes) == (4096, num_classes(name))
    assert (cfg.val_evaluator.type, tuple(cfg.val_evaluator.topk)) == ('Accuracy', (1, 5))
    crops = [t['crop_size'] for t in cfg.test_dataloader.dataset.pipeline if 'crop_size' in t]
    assert crops == [crop_of(name)]
    if re.match(r'wrn\d+a_', name):  # the authors' Model A: what the released weights need
        assert m.backbone.variant == 'a' and m.backbone.pool_padding == 0
        assert m.backbone.norm_cfg == dict(type='BN', eps=1.001e-5)
    if '-map' in name:
        assert m.backbone.act_cfg == dict(type='LeakyReLU', negative_slope=0.01)
        assert m.backbone.pool_padding == 1


@pytest.mark.parametrize('name', CONFIGS)
def test_builds_with_runner_and_runs_small(name, tmp_path):
    cfg = shrink(load(name), widen=1 / 32)
    cfg.work_dir = str(tmp_path)
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    model = runner.model.eval()
    # Model A with unpadded pools (the released weights' layout) needs >= 63 px.
    size = 64 if cfg.model.backbone.get('pool_padding') == 0 else 32
    with torch.no_grad():
        logits = model(torch.rand(2, 3, size, size), mode='tensor')
    assert logits.shape == (2, num_classes(name))
    assert torch.isfinite(logits).all()

    # Train-mode loss through the data preprocessor, as the runner's train step does it.
    model.train()
    batch = dict(
        inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8) for _ in range(2)],
        data_samples=[DataSample().set_gt_label(i) for i in (0, 7)],
    )
    data = model.data_preprocessor(batch, True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss'])

    # Optimizer as configured: the authors' (MXNet) default puts no weight decay on biases
    # and BN betas; MAP decays everything.
    optim = runner.build_optim_wrapper(cfg.optim_wrapper).optimizer
    wd = {}
    names = {id(p): n for n, p in runner.model.named_parameters()}
    for g in optim.param_groups:
        for p in g['params']:
            wd[names[id(p)]] = g['weight_decay']
    assert optim.defaults['nesterov'] is True
    assert wd['backbone.norm_out.weight'] == pytest.approx(1e-4)
    assert wd['backbone.block2.unit1.conv1.weight'] == pytest.approx(1e-4)
    bias_wd = 1e-4 if '-map' in name else 0.0
    assert wd['backbone.norm_out.bias'] == pytest.approx(bias_wd)
    assert wd['head.fc.bias'] == pytest.approx(bias_wd)


def _lrs(cfg: Config, epoch_length: int) -> list:
    """Per-iteration lr of the configured scheduler, over the whole training."""
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=cfg.optim_wrapper.optimizer.lr)
    sch = copy.deepcopy(cfg.param_scheduler)
    assert sch.pop('convert_to_iter_based') is True
    scheduler = PARAM_SCHEDULERS.get(sch.pop('type')).build_iter_from_epoch(
        opt, epoch_length=epoch_length, **sch
    )
    lrs = []
    for _ in range(cfg.train_cfg.max_epochs * epoch_length):
        lrs.append(opt.param_groups[0]['lr'])
        opt.step()
        scheduler.step()
    return lrs


@pytest.mark.parametrize(
    'name,end_lr', [('wrn38a_8xb32_in1k.py', 1e-6), ('wrn38a-map_8xb32_in1k.py', 0.0)]
)
def test_linear_schedule_decays_per_iteration_over_90_epochs(name, end_lr):
    cfg = load(name)
    assert cfg.train_cfg.max_epochs == 90
    lrs = np.array(_lrs(cfg, epoch_length=4))
    assert len(lrs) == 360
    assert lrs[0] == pytest.approx(0.1)
    assert lrs[-1] == pytest.approx(end_lr, abs=1e-9)
    assert (np.diff(lrs) < 0).all()  # every iteration, not once per epoch
    assert np.allclose(np.diff(lrs), np.diff(lrs)[0])  # linear


@pytest.mark.parametrize(
    'name', ['wrn38a1_8xb32-ft45k_in1k.py', 'wrn38a2_8xb32-ft45k_places365.py']
)
def test_finetune_schedules(name):
    cfg = load(name)
    assert cfg.train_cfg == dict(type='IterBasedTrainLoop', max_iters=45000, val_interval=5000)
    assert cfg.optim_wrapper.optimizer.lr == 0.01
    assert cfg.param_scheduler.type == 'ConstantLR' and cfg.param_scheduler.factor == 1.0
    if 'places365' in name:
        init = cfg.model.backbone.init_cfg
        assert init.type == 'Pretrained' and init.prefix == 'backbone.'
        assert cfg.train_dataloader.dataset.type == 'CustomDataset'
    else:
        assert cfg.load_from


@pytest.mark.parametrize('name', ['wrn38a_8xb32_in1k.py', 'wrn38a-map_8xb32_in1k.py'])
def test_init_follows_the_recipe(name):
    """ADE: Kaiming-normal fan_in convs, PyTorch-default FC; MAP: Xavier (leaky gain, FC 0.1)."""
    cfg = shrink(load(name), widen=1 / 4)
    model = MODELS.build(cfg.model)
    model.init_weights()
    conv = model.backbone.block5.unit1.conv2.weight  # 128 -> 256, 3x3 at width 1/4
    fan_in, fan_out = 128 * 9, 256 * 9  # unequal: fan_in vs fan_out modes differ
    fc = model.head.fc
    bound = 1 / fc.in_features**0.5
    if '-map' in name:
        std = (2 / (1 + 0.01**2)) ** 0.5 * (2 / (fan_in + fan_out)) ** 0.5
        fc_bound = 0.1 * (6 / (fc.in_features + fc.out_features)) ** 0.5
        assert torch.count_nonzero(fc.bias) == 0
    else:
        std = (2 / fan_in) ** 0.5
        fc_bound = bound  # PyTorch's nn.Linear default = the authors' TorchXavier_Linear
        assert fc.bias.abs().max() <= bound and fc.bias.std() > bound / 4
    assert conv.std().item() == pytest.approx(std, rel=0.05)
    assert fc.weight.abs().max().item() == pytest.approx(fc_bound, rel=0.02)
    bn = model.backbone.block4.unit2.norm1
    assert torch.all(bn.weight == 1) and torch.all(bn.bias == 0)


def test_full_width_forward_and_checkpoint_layout():
    cfg = load('wrn38a1_8xb32_in1k.py')
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        logits = model(torch.rand(1, 3, 32, 32), mode='tensor')
    assert logits.shape == (1, 1000)
    # The paper's parameter count of the d38 classifier (trunk + FC-1000).
    assert sum(p.numel() for p in model.parameters()) == 109_167_912
    # What a converted ImageNet checkpoint must provide: the trunk under `backbone.`, the
    # FC as `head.fc.*` (MXNet `linear1000_*`, MAP/NV `classifier.fc.*`), nothing else.
    keys = set(model.state_dict())
    head = {k for k in keys if not k.startswith('backbone.')}
    assert head == {'head.fc.weight', 'head.fc.bias'}
    assert model.state_dict()['head.fc.weight'].shape == (1000, 4096)
    trunk = {k[len('backbone.') :] for k in keys - head}
    assert trunk == set(model.backbone.state_dict())


# --- released checkpoints, synthetic: the converter's output loads strictly -------------

# The authors' MXNet names of the convs / BNs of a unit (WIDER_RESNET.md sec. 4).
_MX_BRANCH = {1: '2a', 2: '2b1', 3: '2b2'}
_MX_BN = dict(weight='gamma', bias='beta', running_mean='moving_mean', running_var='moving_var')


def _mxnet_name(key: str) -> str:
    """Our key -> the ADE MXNet key (WIDER_RESNET.md sec. 4), written independently here."""
    if key == 'stem.weight':
        return 'arg:conv1a_weight'
    if key == 'head.fc.weight' or key == 'head.fc.bias':
        return f'arg:linear1000_{key.rsplit(".", 1)[1]}'
    m = re.fullmatch(r'norm_out\.(\w+)', key)
    if m:
        p = _MX_BN[m[1]]
        return f'{"aux" if "moving" in p else "arg"}:bn7_{p}'
    m = re.fullmatch(r'block(\d)\.unit(\d+)\.(norm|conv|shortcut)(\d?)\.(\w+)', key)
    b, u, layer, i, p = int(m[1]), int(m[2]), m[3], m[4], m[5]
    unit = f'{b}a' if u == 1 else f'{b}b{u - 1}'
    if layer == 'shortcut':
        return f'arg:res{unit}_branch1_weight'
    if layer == 'conv':
        return f'arg:res{unit}_branch{_MX_BRANCH[int(i)]}_weight'
    p = _MX_BN[p]
    return f'{"aux" if "moving" in p else "arg"}:bn{unit}_branch{_MX_BRANCH[int(i)]}_{p}'


def _map_name(key: str) -> str:
    """Our key -> the mapillary/inplace_abn key (with DataParallel's `module.`)."""
    if key == 'stem.weight':
        return 'module.mod1.conv1.weight'
    if key.startswith('head.fc.'):
        return 'module.classifier.fc.' + key.rsplit('.', 1)[1]
    if key.startswith('norm_out.'):
        return 'module.bn_out.' + key.split('.', 1)[1]
    m = re.fullmatch(r'block(\d)\.unit(\d+)\.(norm|conv|shortcut)(\d?)\.(\w+)', key)
    b, u, layer, i, p = m[1], m[2], m[3], m[4], m[5]
    pre = f'module.mod{b}.block{u}.'
    if layer == 'shortcut':
        return pre + 'proj_conv.weight'
    if layer == 'norm' and i == '1':
        return pre + f'bn1.{p}'
    return pre + f'convs.{"bn" if layer == "norm" else "conv"}{i}.{p}'


@pytest.mark.parametrize(
    'name,src,hint,rename',
    [
        ('wrn38a_8xb32_in1k-test320.py', 'mxnet', 'ilsvrc-cls_rna-a_cls1000', _mxnet_name),
        ('wrn38a1_8xb32_in1k-test320.py', 'mxnet', 'ilsvrc-cls_rna-a1_cls1000', _mxnet_name),
        ('wrn38a-map_8xb32_in1k-test320.py', 'mapillary', None, _map_name),
    ],
)
def test_converted_release_loads_strictly(name, src, hint, rename, tmp_path):
    converters = pytest.importorskip('wider_mm.converters')
    cfg = shrink(load(name))  # the key mapping does not depend on the width
    model = MODELS.build(cfg.model).eval()
    ours = {k: v for k, v in model.state_dict().items() if not k.endswith('num_batches_tracked')}
    released = {}
    for k, v in ours.items():
        plain = k[len('backbone.') :] if k.startswith('backbone.') else k
        value = torch.rand_like(v) + 0.5 if 'running_var' in k else torch.randn_like(v)
        released[rename(plain)] = value.numpy() if src == 'mxnet' else value
    assert len(released) == len(ours)
    if src == 'mxnet':
        assert len(released) == 193  # as many as the released A1 (mxnet_a1_param_names.txt)
    conv = converters.convert_state_dict(released, src, name_hint=hint)
    path = tmp_path / 'converted.pth'
    torch.save({'state_dict': conv.state_dict}, path)
    # tools/test.py loads with runner.load_checkpoint (strict=False, logs only); strict
    # here, so any key the config's model and the converter disagree on fails.
    load_checkpoint(model, str(path), strict=True, revise_keys=[(r'^module\.', '')])
    fc = model.head.fc.weight.detach()
    expected = released[rename('head.fc.weight')]
    assert torch.equal(fc, torch.as_tensor(expected))


# --- the test protocols ------------------------------------------------------------------


def _run(pipeline: list, img: np.ndarray) -> dict:
    """Run a config pipeline on an in-memory image (LoadImageFromFile skipped)."""
    assert pipeline[0]['type'] == 'LoadImageFromFile'
    steps = [TRANSFORMS.build(copy.deepcopy(t)) for t in pipeline[1:]]
    results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])
    for t in steps:
        results = t(results)
    return results


@pytest.mark.parametrize('name', ['wrn38a_8xb32_in1k.py', 'wrn38a-map_8xb32_in1k.py'])
@pytest.mark.parametrize('hw', [(400, 500), (500, 400)])
def test_test_protocols_crop_sizes(name, hw):
    cfg = load(name)
    img = np.random.default_rng(0).integers(0, 256, (*hw, 3), dtype=np.uint8)
    for pipeline, short, crop in ((cfg.test_pipeline_224, 256, 224),
                                  (cfg.test_pipeline_320, 320, 320)):  # fmt: skip
        resized = _run(pipeline[:2], img)['img']  # shorter side first
        assert min(resized.shape[:2]) == short
        assert max(resized.shape[:2]) == round(short * max(hw) / min(hw))
        packed = _run(pipeline, img)
        assert tuple(packed['inputs'].shape) == (3, crop, crop)
    # The -test320 configs really use the authors' protocol.
    cfg320 = load(name.replace('.py', '-test320.py'))
    assert cfg320.test_dataloader.dataset.pipeline == cfg.test_pipeline_320
    assert cfg320.val_dataloader.dataset.pipeline == cfg.test_pipeline_320
    assert cfg.test_dataloader.dataset.pipeline == cfg.test_pipeline_224


@pytest.mark.parametrize('name', ['wrn38a_8xb32_in1k-test320.py', 'wrn38a-map_8xb32_in1k.py'])
def test_flip_tta_averages_the_protocol_crop_and_its_mirror(name):
    """`tools/test.py --tta`: the config's protocol plus its mirror, scores averaged."""
    cfg = shrink(load(name))
    crop = crop_of(name)
    assert cfg.tta_pipeline[:-1] == cfg.test_dataloader.dataset.pipeline[:-1]
    img = np.random.default_rng(1).integers(0, 256, (300, 400, 3), dtype=np.uint8)
    views = _run(cfg.tta_pipeline, img)
    assert [tuple(v.shape) for v in views['inputs']] == [(3, crop, crop)] * 2
    assert torch.equal(views['inputs'][0], views['inputs'][1].flip(-1))

    model = MODELS.build(cfg.model).eval()
    tta = MODELS.build(dict(cfg.tta_model, module=model))
    with torch.no_grad():
        merged = tta.test_step(pseudo_collate([views]))
        single = [
            model.test_step(dict(inputs=[v], data_samples=[copy.deepcopy(s)]))[0]
            for v, s in zip(views['inputs'], views['data_samples'])
        ]
    assert len(merged) == 1 and merged[0].pred_score.shape == (1000,)
    mean = (single[0].pred_score + single[1].pred_score) / 2
    assert torch.allclose(merged[0].pred_score, mean, atol=1e-6)
    assert not torch.allclose(single[0].pred_score, single[1].pred_score)


def test_train_pipeline_lighting_does_not_wrap_bright_pixels():
    """Why the train pipeline loads float32: mmpretrain's Lighting wraps uint8 overflow."""
    cfg = load('wrn38a_8xb32_in1k.py')
    pipeline = cfg.train_pipeline
    assert pipeline[0] == dict(type='LoadImageFromFile', to_float32=True)
    white = np.full((300, 400, 3), 255, np.uint8)
    np.random.seed(0)
    outs = [_run(pipeline, white.astype(np.float32))['inputs'] for _ in range(20)]
    uint8_lows = [_run(pipeline, white)['inputs'].min().item() for _ in range(20)]
    assert all(tuple(o.shape) == (3, 224, 224) for o in outs)
    lows = [o.min().item() for o in outs]
    # Brightness/contrast jitter 0.4 and lighting keep a white image bright...
    assert min(lows) > 100
    # ...while on uint8 the same pipeline turns some white pixels black.
    assert min(uint8_lows) < 50


# --- train + evaluate through mmpretrain's Runner on a tiny ImageNet-layout folder ------

COLOURS = [(220, 40, 40), (40, 190, 40), (40, 40, 220), (220, 220, 40), (200, 40, 200),
           (40, 200, 200)]  # fmt: skip


def _image(rng: np.random.Generator, colour) -> Image.Image:
    """A learnable image: the class is the hue; noise and a grey box as clutter."""
    h, w = 72, 96
    img = np.asarray(colour, np.float32) * rng.uniform(0.7, 1.1)
    img = np.broadcast_to(img, (h, w, 3)) + rng.normal(0, 12, (h, w, 3))
    y, x = rng.integers(0, h - 24), rng.integers(0, w - 24)
    img[y : y + 24, x : x + 24] = rng.uniform(60, 200)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def make_tiny_imagenet(root: Path, n_train: int = 8, n_val: int = 4) -> list:
    """train/<wnid>/*.JPEG (folder layout) and val/*.JPEG + meta/val.txt, as ImageNet."""
    rng = np.random.default_rng(0)
    wnids = [f'n{c:08d}' for c in range(len(COLOURS))]
    for wnid, colour in zip(wnids, COLOURS):
        (root / 'train' / wnid).mkdir(parents=True)
        for i in range(n_train):
            _image(rng, colour).save(root / 'train' / wnid / f'{wnid}_{i}.JPEG', quality=95)
    (root / 'val').mkdir()
    (root / 'meta').mkdir()
    lines = []
    for k in range(n_val * len(COLOURS)):
        c = k % len(COLOURS)
        name = f'ILSVRC2012_val_{k + 1:08d}.JPEG'
        _image(rng, COLOURS[c]).save(root / 'val' / name, quality=95)
        lines.append(f'{name} {c}')
    (root / 'meta' / 'val.txt').write_text('\n'.join(lines) + '\n')
    return wnids


def test_train_and_evaluate_tiny_imagenet(tmp_path):
    data = tmp_path / 'imagenet'
    wnids = make_tiny_imagenet(data)
    # The depth-16 config inherits everything else (recipe, pipelines, metric) from
    # wrn38a1_8xb32_in1k.py; depth 16 and width 1/16 keep this to seconds on a CPU.
    cfg = shrink(load('wrn16a1_8xb32_in1k.py'))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.log_level = 'WARNING'
    cfg.randomness = dict(seed=0)
    epochs = 10
    cfg.train_cfg.max_epochs = epochs
    cfg.train_cfg.val_interval = epochs
    # The recipe's lr 0.1 is for a batch of 256: let the runner scale it to the batch of 8
    # used here (0.1 * 8 / 256), as `tools/train.py --auto-scale-lr` does.
    cfg.auto_scale_lr.enable = True
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
    # Train crops of 112 instead of 224 (4x less compute); the test pipeline is the real one.
    crop = cfg.train_dataloader.dataset.pipeline[1]
    assert crop == dict(type='RandomResizedCrop', scale=224)
    crop.scale = 112
    for split, loader in (('train', cfg.train_dataloader), ('val', cfg.val_dataloader)):
        loader.batch_size = 8
        loader.num_workers = 0
        loader.dataset.data_root = str(data)
        assert loader.dataset.type == 'ImageNet' and loader.dataset.split == split
    # Folder layout: the class list must match the folders (6 here, not ImageNet's 1000).
    cfg.train_dataloader.dataset.metainfo = dict(classes=wnids)
    cfg.test_dataloader = copy.deepcopy(cfg.val_dataloader)

    runner = Runner.from_cfg(cfg)
    runner.train()
    assert runner.optim_wrapper.get_lr()['lr'][0] < 0.1 * 8 / 256  # scaled, then decayed
    metrics = runner.test()
    print(metrics)
    top1, top5 = metrics['accuracy/top1'], metrics['accuracy/top5']
    assert 0 <= top1 <= top5 <= 100
    # Six hues, 1000 logits: chance is 16.7 % top-1 and 0.5 % top-5.
    assert top1 >= 50, metrics
    assert top5 >= 90, metrics
    assert (Path(cfg.work_dir) / f'epoch_{epochs}.pth').is_file()


# --- docs ----------------------------------------------------------------------------------


def _doc_rows() -> dict:
    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r'\|\s*`?([\w.-]+\.py)`?\s*\|(.*)\|\s*$', line)
        if m:
            rows.setdefault(m[1], []).append([c.strip() for c in m[2].split('|')])
    return rows


def test_docs_table_lists_every_config_with_its_published_numbers():
    from wider_mm.evaluation.published import find_published

    rows = _doc_rows()
    assert set(rows) == set(CONFIGS)
    # the zoo's numbers (metafile.yaml) as the docs give them: errors, 100 - accuracy
    everywhere = {f'{p.value:.2f}' for p in find_published('imagenet', kind=None)}
    for name, cells in rows.items():
        own = {f'{p.value:.2f}' for p in find_published('imagenet', zoo_model=name[:-3])}
        shown = set()
        for row in cells:
            # | config | protocol | published top-1 / top-5 err | source | ours |
            assert len(row) == 4, (name, row)
            assert row[3] == '-', (name, row)  # 'ours': results come from tools/leaderboard.py
            shown |= set(re.findall(r'\d+\.\d+', row[1]))
        assert shown <= everywhere, f'{name}: {shown - everywhere} in the docs, not in the zoo'
        assert own <= shown, f'{name}: the zoo has {own - shown}, the docs do not'
