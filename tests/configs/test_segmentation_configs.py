"""Tests of configs/segmentation (mmseg configs of the paper's model and of mmseg's heads).

Every config loads with mmengine (inheriting mmseg's own bases), follows mmseg's naming
convention and says what published number it is to be compared with; every config builds at
full width (on the meta device: every constructor and the build-time channel check run,
without allocating 31 x ~170M parameters) and takes one real training step on a tiny
synthetic batch at 1/32 width (head channels derived from the backbone's published
``out_channels``); each distinct architecture runs one eval forward at full width on a 64x64
image through mmseg's ``test_step``. The test-time-augmentation pipelines run on a
synthetic image, once end to end through mmseg's ``SegTTAModel`` as ``tools/test.py --tta``
assembles it. The authors' optimiser rule is checked on the param groups mmengine builds,
and the backbone is dropped into three of mmseg's own configs by config override only.
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import re
from pathlib import Path

import mmengine.config.utils as mmengine_config_utils
import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config, ConfigDict
from mmengine.dataset import pseudo_collate
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.structures import PixelData
from mmseg.registry import DATASETS, MODELS
from mmseg.structures import SegDataSample
from PIL import Image
from torch.nn.modules.batchnorm import _BatchNorm

from wider_mm.models.backbones.wider_resnet import count_parameters
from wider_mm.zoo import get_model_info

ROOT = Path(__file__).resolve().parents[2]
CFG_DIR = ROOT / 'configs' / 'segmentation'
CONFIGS = sorted(p.name for p in CFG_DIR.glob('*.py'))
SMALL = 1 / 32
NAME = re.compile(
    r'^(?P<algo>[a-z0-9]+)_(?P<backbone>wrn38a[12](?:-d8)?)_(?P<gpus>\d+)xb(?P<batch>\d+)'
    r'-(?P<iters>\d+)k_(?P<dataset>[a-z0-9-]+?)-(?P<h>\d+)x(?P<w>\d+)\.py$'
)
CLASSES = {
    'voc12aug': 21,
    'pascal-context': 60,
    'pascal-context-59': 59,
    'cityscapes': 19,
    'ade20k': 150,
}
ALGOS = ('widerhead', 'fcn', 'pspnet', 'deeplabv3', 'deeplabv3plus', 'upernet')


@pytest.fixture(scope='module', autouse=True)
def _fast_mmseg_base_lookup():
    """Parse mmseg's metafiles once instead of once per ``mmseg::`` base.

    mmengine resolves each ``mmseg::`` base by reading all of mmseg's ~160 metafile YAMLs
    (about 0.5 s per base, 3 bases per config); the files are read-only package data, so
    caching the parse changes no result, only the time (this module's budget is ~90 s).
    """
    real = mmengine_config_utils.load
    cached = functools.cache(lambda path: real(path))

    def load(path, *args, **kwargs):
        if not args and not kwargs and str(path).endswith(('.yml', '.yaml')):
            return copy.deepcopy(cached(str(path)))
        return real(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(mmengine_config_utils, 'load', load)
        yield


@pytest.fixture(scope='module', autouse=True)
def _one_thread():
    """Run this module's many small ops on one thread.

    On 2 shared cores two intra-op threads wait on each other at every op whenever another
    process holds a core: on a 2-core x86_64 CPU, a 1/32-width WRN-38 step took seconds with
    2 threads under load and ~20 ms with 1 (full width: about 2x faster with 1 too).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')  # what the Runner does with default_scope='mmseg'


@functools.cache
def _load(name: str) -> Config:
    return Config.fromfile(str(CFG_DIR / name))


def load(name: str) -> Config:
    """The config (a private copy: tests modify it)."""
    return copy.deepcopy(_load(name))


def parse(name: str) -> dict:
    m = NAME.match(name)
    assert m, f'{name} does not follow {{algorithm}}_{{backbone}}_{{gpus}}xb{{batch}}-...'
    return m.groupdict()


def heads_of(model_cfg: ConfigDict) -> list:
    aux = model_cfg.get('auxiliary_head') or []
    return [model_cfg.decode_head] + (aux if isinstance(aux, list) else [aux])


def shrink(model_cfg: ConfigDict, widen: float = SMALL) -> ConfigDict:
    """Width override: heads' input channels from the backbone's published out_channels."""
    cfg = copy.deepcopy(model_cfg)
    cfg.backbone.widen_factor = widen
    cfg.backbone.init_cfg = None
    with torch.device('meta'):
        emitted = MODELS.build(copy.deepcopy(cfg.backbone)).out_channels
    for head in heads_of(cfg):
        idx = head.get('in_index', -1)
        head.in_channels = [emitted[i] for i in idx] if isinstance(idx, list) else emitted[idx]
        head.channels = max(8, round(head.channels * widen))
        if 'c1_in_channels' in head:  # DeepLabV3+ decodes inputs[0] as its low-level feature
            head.c1_in_channels = emitted[0]
    return cfg


def build(model_cfg: ConfigDict, device: str = 'cpu'):
    with torch.device(device):
        model = MODELS.build(copy.deepcopy(model_cfg))
    return model if device == 'meta' else revert_sync_batchnorm(model)


def batch(num_classes: int, n: int = 2, hw=(64, 64), seed: int = 0) -> dict:
    """A synthetic batch as mmseg's dataloader yields it (uint8 images, label maps)."""
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, *hw), generator=g, dtype=torch.uint8))
        label = torch.randint(0, num_classes, hw, generator=g)
        label[torch.rand(hw, generator=g) < 0.1] = 255
        s = SegDataSample(metainfo=dict(img_shape=hw, ori_shape=hw, pad_shape=hw))
        s.gt_sem_seg = PixelData(data=label[None])
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def dataset_classes(cfg: Config) -> int:
    ds = cfg.train_dataloader.dataset
    ds = ds.datasets[0] if ds.type == 'ConcatDataset' else ds
    return len(DATASETS.get(ds.type).METAINFO['classes'])


def train_pipeline(cfg: Config) -> list:
    ds = cfg.train_dataloader.dataset
    ds = ds.datasets[0] if ds.type == 'ConcatDataset' else ds
    return ds.pipeline


def is_paper(name: str) -> bool:
    return name.startswith('widerhead_')


# --------------------------------------------------------------------------- the set
def test_one_config_per_algorithm_and_dataset():
    found = {(parse(n)['algo'], parse(n)['dataset'], parse(n)['backbone']) for n in CONFIGS}
    expected = {
        (a, d, 'wrn38a1' if a == 'upernet' else 'wrn38a1-d8') for a in ALGOS for d in CLASSES
    }
    expected.add(('widerhead', 'cityscapes', 'wrn38a2-d8'))  # the paper's Model A2
    assert found == expected
    assert len(CONFIGS) == len(expected) == 31


@pytest.mark.parametrize('name', CONFIGS)
def test_config_contract(name):
    cfg, part = load(name), parse(name)
    assert cfg.default_scope == 'mmseg'  # mmseg's default_runtime base
    assert 'wider_mm' in cfg.custom_imports['imports']
    assert cfg.custom_imports['allow_failed_imports'] is False
    m = cfg.model
    assert m.type == 'WiderEncoderDecoder' and m.backbone.type == 'WiderResNet'
    assert m.get('pretrained') is None
    # the name says what the config does
    classes = CLASSES[part['dataset']]
    assert dataset_classes(cfg) == classes
    assert all(h.num_classes == classes for h in heads_of(m))
    crop = (int(part['h']), int(part['w']))
    assert tuple(m.data_preprocessor.size) == crop
    crops = [t.crop_size for t in train_pipeline(cfg) if t.type == 'RandomCrop']
    assert [tuple(c) for c in crops] == [crop]
    assert cfg.train_dataloader.batch_size == int(part['batch'])
    assert cfg.train_cfg.max_iters == int(part['iters']) * 1000
    assert cfg.param_scheduler[0].end == cfg.train_cfg.max_iters
    assert m.backbone.output_stride == (32 if part['algo'] == 'upernet' else 8)
    assert m.backbone.variant == part['backbone'][5:7]
    # the number to compare with: the config's model in the zoo (metafile.yaml)
    zoo = get_model_info(name[:-3])
    assert zoo.config == f'configs/segmentation/{name}'
    if is_paper(name):
        assert zoo.collection == 'WiderResNet-Seg' and not zoo.compare_with
    else:
        assert not zoo.results and len(zoo.compare_with) == 1
        base = zoo.compare_with[0]
        assert 'ResNet-101' in base['Model']
        if base.get('Results'):  # the mmseg config it was taken from has our recipe
            assert base['Name'].endswith(
                f'_{part["gpus"]}xb{part["batch"]}-{part["iters"]}k_'
                f'{part["dataset"]}-{part["h"]}x{part["w"]}'
            )
    # tools/test.py --tta: multi-scale x flip
    assert cfg.tta_model.type == 'SegTTAModel'
    tta = cfg.tta_pipeline[1]
    assert tta.type == 'TestTimeAug'
    scales, flips = tta.transforms[0], tta.transforms[1]
    assert len(scales) >= 3 and {t.type for t in scales} == {'Resize'}
    assert sorted(t.prob for t in flips) == [0.0, 1.0]
    # Cityscapes: full resolution, sliding windows
    if part['dataset'] == 'cityscapes':
        assert m.test_cfg.mode == 'slide'
        resize = [t for t in cfg.test_pipeline if t.type == 'Resize']
        assert [tuple(t.scale) for t in resize] == [(2048, 1024)]


@pytest.mark.parametrize('name', [n for n in CONFIGS if is_paper(n)])
def test_paper_model_and_recipe(name):
    cfg = load(name)
    m = cfg.model
    b = m.backbone
    assert (b.depth, b.output_stride, tuple(b.out_indices)) == (38, 8, (6,))
    assert b.norm_eval is True  # frozen BN statistics
    assert tuple(b.drop_rates) == (0.3, 0.5) and b.dropout_type == 'Dropout'
    h = m.decode_head
    assert h.type == 'WiderHead' and (h.in_channels, h.channels, h.dilation) == (4096, 512, 12)
    assert h.norm_cfg is None and h.dropout_ratio == 0
    assert h.sampler == dict(type='OHEMPixelSampler', thresh=0.6, min_kept=256)
    assert 'auxiliary_head' not in m
    pipe = train_pipeline(cfg)
    types = [t.type for t in pipe]
    assert 'PhotoMetricDistortion' not in types
    (resize,) = [t for t in pipe if t.type == 'RandomResize']
    assert tuple(resize.ratio_range) == (0.7, 1.3) and resize.keep_ratio
    (crop,) = [t for t in pipe if t.type == 'RandomCrop']
    assert tuple(crop.crop_size) == (504, 504) and crop.get('cat_max_ratio', 1.0) == 1.0
    assert cfg.train_dataloader.batch_size * int(parse(name)['gpus']) == 16
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.momentum, opt.weight_decay) == ('SGD', 0.9, 5e-4)
    assert cfg.optim_wrapper.paramwise_cfg == dict(
        custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)}
    )


def _groups_by_param(model, optim_wrapper) -> dict:
    ids = {id(p): n for n, p in model.named_parameters()}
    return {
        ids[id(p)]: (g['lr'], g['weight_decay'])
        for g in optim_wrapper.optimizer.param_groups
        for p in g['params']
    }


def test_optimiser_rule_of_the_authors():
    """Biases and BN betas at lr x2 and wd 0; conv weights and BN gammas at lr x1, wd 5e-4.

    Also pins down why the configs use custom_keys: mmengine's bias_lr_mult skips norm
    biases, and norm_decay_mult also removes weight decay from BN gammas.
    """
    cfg = load('widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504.py')
    model = build(shrink(cfg.model))
    lr, wd = cfg.optim_wrapper.optimizer.lr, cfg.optim_wrapper.optimizer.weight_decay
    norms = {n for n, mod in model.named_modules() if isinstance(mod, _BatchNorm)}
    got = _groups_by_param(model, build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper)))
    assert len(got) == len(list(model.parameters()))
    for name, (p_lr, p_wd) in got.items():
        owner, kind = name.rsplit('.', 1)
        if kind == 'bias':
            assert (p_lr, p_wd) == (2 * lr, 0), name
        else:
            assert (p_lr, p_wd) == (lr, wd), name
    assert any(n.rsplit('.', 1)[0] in norms and n.endswith('.bias') for n in got)
    assert 'decode_head.conv_seg.bias' in got and 'decode_head.conv.conv.bias' in got

    alt = copy.deepcopy(cfg.optim_wrapper)
    alt.paramwise_cfg = dict(bias_lr_mult=2.0, bias_decay_mult=0.0, norm_decay_mult=0.0)
    other = _groups_by_param(model, build_optim_wrapper(model, alt))
    assert other['backbone.norm_out.bias'] == (lr, 0)  # BN beta: lr x1 only
    assert other['backbone.norm_out.weight'] == (lr, 0)  # BN gamma: no weight decay
    assert other['decode_head.conv_seg.bias'] == (2 * lr, 0)


# --------------------------------------------------------------------------- building
@pytest.mark.parametrize('name', CONFIGS)
def test_builds_at_full_width(name):
    """All constructors and the channel check, on the meta device (no memory, no init)."""
    model = build(load(name).model, device='meta')
    assert count_parameters(model.backbone) == 105_070_912  # WRN-38 (reference, sec. 2)
    assert model.backbone.out_channels == ((4096,) if is_paper(name) else (256, 512, 1024, 4096))


@pytest.mark.parametrize('name', CONFIGS)
def test_one_training_step_at_small_width(name):
    cfg = load(name)
    model_cfg = shrink(cfg.model)
    model_cfg.data_preprocessor.size = (64, 64)  # crops are 480..1024: keep the step small
    model = build(model_cfg).train()
    classes = model.decode_head.num_classes
    data = model.data_preprocessor(batch(classes), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss) and loss > 0
    expected = {'decode.loss_ce'} | ({'aux.loss_ce'} if model.with_auxiliary_head else set())
    assert expected <= set(losses)
    loss.backward()
    for p in (model.backbone.stem.weight, model.decode_head.conv_seg.weight):
        assert p.grad is not None and p.grad.abs().sum() > 0
    if cfg.model.backbone.norm_eval:
        assert not any(m.training for m in model.backbone.modules() if isinstance(m, _BatchNorm))
    wrapper = build_optim_wrapper(model, copy.deepcopy(cfg.optim_wrapper))
    before = model.decode_head.conv_seg.weight.detach().clone()
    wrapper.step()
    assert not torch.equal(before, model.decode_head.conv_seg.weight)


def _architecture(model_cfg: ConfigDict) -> str:
    """The model dict without what only changes the class count or the test mode."""
    cfg = copy.deepcopy(model_cfg).to_dict()
    for key in ('data_preprocessor', 'test_cfg'):
        cfg.pop(key, None)
    for head in [cfg['decode_head']] + [cfg[k] for k in ('auxiliary_head',) if k in cfg]:
        for h in head if isinstance(head, list) else [head]:
            h.pop('num_classes')
    return repr(sorted(cfg.items()))


def _one_config_per_architecture() -> list:
    """Prefer a slide-inference config, so that code path runs at full width too."""
    chosen: dict = {}
    for name in sorted(CONFIGS, key=lambda n: 'cityscapes' not in n):
        chosen.setdefault(_architecture(_load(name).model), name)
    return sorted(chosen.values())


@pytest.fixture(scope='module')
def architectures(_fast_mmseg_base_lookup):
    return _one_config_per_architecture()


def test_seven_distinct_architectures(architectures):
    # widerhead A1, widerhead A2, FCN, PSPNet, DeepLabV3, DeepLabV3+, UPerNet
    assert len(architectures) == 7


@pytest.mark.parametrize('index', range(7))
def test_eval_forward_at_full_width(architectures, index):
    name = architectures[index]
    cfg = load(name)
    model = build(cfg.model).eval()
    classes = model.decode_head.num_classes
    data = batch(classes, n=1)
    with torch.no_grad():
        (out,) = model.test_step(data)
    assert out.seg_logits.data.shape == (classes, 64, 64)
    assert torch.isfinite(out.seg_logits.data).all()
    assert out.pred_sem_seg.data.shape == (1, 64, 64)
    assert int(out.pred_sem_seg.data.max()) < classes


# --------------------------------------------------------------------------- TTA
def _sample_files(tmp_path: Path, hw=(48, 64)):
    rng = np.random.default_rng(0)
    img, seg = tmp_path / 'img.png', tmp_path / 'seg.png'
    Image.fromarray(rng.integers(0, 256, (*hw, 3), dtype=np.uint8)).save(img)
    Image.fromarray(rng.integers(0, 19, hw, dtype=np.uint8)).save(seg)
    return str(img), str(seg)


def _reduce_zero_label(cfg: Config) -> bool:
    for klass in DATASETS.get(cfg.test_dataloader.dataset.type).__mro__:
        params = inspect.signature(klass.__init__).parameters
        if 'reduce_zero_label' in params:
            return bool(params['reduce_zero_label'].default)
    raise AssertionError('no reduce_zero_label default')


def _tta_inputs(cfg: Config, tmp_path: Path) -> dict:
    img, seg = _sample_files(tmp_path)
    results = dict(
        img_path=img, seg_map_path=seg, reduce_zero_label=_reduce_zero_label(cfg), seg_fields=[]
    )
    return Compose(cfg.tta_pipeline)(results)


@pytest.mark.parametrize('name', CONFIGS)
def test_tta_pipeline_yields_scales_times_flips(name, tmp_path):
    cfg = load(name)
    out = _tta_inputs(cfg, tmp_path)
    n_scales = len(cfg.tta_pipeline[1].transforms[0])
    assert len(out['inputs']) == len(out['data_samples']) == 2 * n_scales
    flips = [s.flip for s in out['data_samples']]
    assert flips.count(True) == flips.count(False) == n_scales
    sizes = {tuple(x.shape[1:]) for x in out['inputs']}
    assert len(sizes) == n_scales
    for s in out['data_samples']:
        assert tuple(s.ori_shape) == (48, 64) and s.gt_sem_seg.data.shape == (1, 48, 64)


def test_tta_end_to_end_as_tools_test_assembles_it(tmp_path):
    """tools/test.py --tta: tta_model.module = model; test pipeline = tta_pipeline."""
    cfg = load('deeplabv3plus_wrn38a1-d8_4xb4-80k_pascal-context-480x480.py')
    tta_cfg = copy.deepcopy(cfg.tta_model)
    tta_cfg.module = shrink(cfg.model)
    tta = revert_sync_batchnorm(MODELS.build(tta_cfg)).eval()
    data = pseudo_collate([_tta_inputs(cfg, tmp_path)])
    with torch.no_grad():
        (out,) = tta.test_step(data)
    assert out.pred_sem_seg.data.shape == (1, 48, 64)
    assert out.gt_sem_seg.data.shape == (1, 48, 64)


# --------------------------------------------------------------------------- drop-in
# The recipe of docs/model_zoo.md: mmseg's own config, only the backbone (and the heads'
# input channels) overridden. Full width: in_channels 4096 / 1024 and c1_in_channels 256.
DROP_IN = {
    'mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512.py': 8,
    'mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py': 8,
    'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py': 32,
}


def _drop_in_override(output_stride: int, widen: float) -> dict:
    backbone = dict(
        _delete_=True,
        type='WiderResNet',
        depth=38,
        variant='a1',
        output_stride=output_stride,
        out_indices=(2, 3, 4, 6),
        widen_factor=widen,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
    )
    with torch.device('meta'):
        ch = MODELS.build({k: v for k, v in backbone.items() if k != '_delete_'}).out_channels
    return dict(
        custom_imports=dict(imports=['wider_mm'], allow_failed_imports=False),
        model=dict(
            type='WiderEncoderDecoder',
            pretrained=None,
            backbone=backbone,
            decode_head=dict(in_channels=ch[3]),
            auxiliary_head=dict(in_channels=ch[2]),
        ),
        ch=ch,
    )


@pytest.mark.parametrize('base', sorted(DROP_IN))
def test_backbone_drops_into_mmseg_configs(base, tmp_path):
    stride = DROP_IN[base]
    override = _drop_in_override(stride, SMALL)
    ch = override.pop('ch')
    # A user's config file that inherits mmseg's config (as docs/model_zoo.md shows).
    path = tmp_path / 'wrn38_dropin.py'
    path.write_text(f'_base_ = {base!r}\n' + ''.join(f'{k} = {v!r}\n' for k, v in override.items()))
    cfg = Config.fromfile(str(path))
    m = cfg.model
    if m.decode_head.type == 'UPerHead':
        m.decode_head.in_channels = list(ch)
    if 'c1_in_channels' in m.decode_head:
        m.decode_head.c1_in_channels = ch[0]
    assert m.backbone == {k: v for k, v in override['model']['backbone'].items() if k != '_delete_'}
    m.data_preprocessor.size = (64, 64)  # mmseg pads to its 512..1024 crops: keep it small
    model = build(m).train()
    assert model.backbone.out_strides == tuple(min(s, stride) for s in (4, 8, 16, 32))
    data = model.data_preprocessor(batch(model.decode_head.num_classes, hw=(64, 64)), True)
    losses = model(**data, mode='loss')
    loss, _ = model.parse_losses(losses)
    assert torch.isfinite(loss)
    loss.backward()
    assert model.backbone.stem.weight.grad.abs().sum() > 0
    with torch.no_grad():
        logits = model.eval().encode_decode(
            data['inputs'][:1], [dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))]
        )
    assert logits.shape == (1, model.decode_head.num_classes, 64, 64)
    assert math.isfinite(float(logits.sum()))


def test_drop_in_without_pretrained_none_fails_naming_it(tmp_path):
    """Why the recipe sets model.pretrained=None: mmseg hands it to the backbone."""
    base = 'mmseg::pspnet/pspnet_r50-d8_4xb2-40k_cityscapes-512x1024.py'
    override = _drop_in_override(8, SMALL)
    override.pop('ch')
    del override['model']['pretrained']
    path = tmp_path / 'wrn38_dropin.py'
    path.write_text(f'_base_ = {base!r}\n' + ''.join(f'{k} = {v!r}\n' for k, v in override.items()))
    cfg = Config.fromfile(str(path))
    assert cfg.model.pretrained == 'open-mmlab://resnet50_v1c'
    with pytest.raises(TypeError, match="unexpected keyword argument 'pretrained'"):
        build(cfg.model, device='meta')


# --------------------------------------------------------------------------- weights
def _ade_names(state: dict) -> dict:
    """Our state dict under the authors' MXNet names (WIDER_RESNET.md sec. 4)."""
    branch = {'1': '2a', '2': '2b1', '3': '2b2'}
    bn = {'weight': 'gamma', 'bias': 'beta', 'running_mean': 'moving_mean'}
    bn['running_var'] = 'moving_var'
    out = {}
    for key, value in state.items():
        key = key.removeprefix('backbone.')
        if key.endswith('num_batches_tracked'):
            continue
        m = re.fullmatch(r'block(\d)\.unit(\d+)\.(norm|conv|shortcut)(\d?)\.(\w+)', key)
        if m:
            b, u, layer, i, p = m.groups()
            unit = f'{b}a' if u == '1' else f'{b}b{int(u) - 1}'
            if layer == 'norm':
                name = f'bn{unit}_branch{branch[i]}_{bn[p]}'
            elif layer == 'conv':
                name = f'res{unit}_branch{branch[i]}_weight'
            else:
                name = f'res{unit}_branch1_weight'
        elif key.startswith('norm_out.'):
            name = f'bn7_{bn[key.split(".")[1]]}'
        else:
            name = {
                'stem.weight': 'conv1a_weight',
                'decode_head.conv.conv.weight': 'conv6a_weight',
                'decode_head.conv.conv.bias': 'conv6a_bias',
                'decode_head.conv_seg.weight': 'linear21_weight',
                'decode_head.conv_seg.bias': 'linear21_bias',
            }[key]
        out[name] = value.clone()
    return out


def test_converted_authors_weights_load_into_the_paper_config(tmp_path):
    """The released segmentation weights (voc_rna-a1_cls21_s8) after wrn2mm load strictly into
    the VOC config's model, and the backbone arguments the converter says they need are the
    config's; ImageNet weights load through the configs' backbone init_cfg (prefix)."""
    from wider_mm.converters import convert_state_dict

    cfg = load('widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504.py')
    model = build(shrink(cfg.model))
    source = {k: torch.randn_like(v) for k, v in _ade_names(model.state_dict()).items()}
    conv = convert_state_dict(source, 'mxnet', name_hint='voc_rna-a1_cls21_s8_ep-0001.params')
    model.load_state_dict(conv.state_dict, strict=True)
    torch.testing.assert_close(model.decode_head.conv_seg.bias, source['linear21_bias'])
    need, have = conv.meta['backbone'], cfg.model.backbone
    for key in ('depth', 'variant', 'output_stride', 'contract_dilation'):
        assert need[key] == have[key], key
    assert need['norm_cfg']['eps'] == have.norm_cfg.eps == 1.001e-5

    # ImageNet classification weights (backbone.* + head.fc.*) via the configs' init_cfg
    imagenet = {k: v for k, v in conv.state_dict.items() if k.startswith('backbone.')}
    imagenet['head.fc.weight'] = torch.zeros(1000, 8)
    ckpt = tmp_path / 'wrn38a1_in1k.pth'
    torch.save(dict(state_dict=imagenet), ckpt)
    backbone_cfg = copy.deepcopy(shrink(cfg.model).backbone)
    backbone_cfg.init_cfg = dict(cfg.model.backbone.init_cfg, checkpoint=str(ckpt))
    backbone = MODELS.build(backbone_cfg)
    backbone.init_weights()
    torch.testing.assert_close(backbone.stem.weight, source['conv1a_weight'])


def test_model_zoo_table_lists_every_config_with_its_number():
    doc = (ROOT / 'docs' / 'model_zoo.md').read_text()
    rows = {}
    for line in doc.splitlines():
        m = re.match(r'\| \[`([^`]+)`\]\(\.\./configs/segmentation/\1\.py\) \|(.*)\|$', line)
        if m:
            rows[m.group(1) + '.py'] = [c.strip() for c in m.group(2).split('|')]
    assert sorted(rows) == CONFIGS
    for name, cells in rows.items():
        zoo, part = get_model_info(name[:-3]), parse(name)
        crop, sched, published, ours = cells[1], cells[2], cells[3], cells[-1]
        assert crop == f'{part["h"]}x{part["w"]}'
        assert sched == f'{part["gpus"]}x{part["batch"]}, {part["iters"]}k'
        numbers = [float(x) for x in re.findall(r'\d+\.\d+', published)]
        # the zoo's numbers: the model's first result, else its baseline's (mIoU, mIoU(ms..))
        results = zoo.results or [r for c in zoo.compare_with for r in c.get('Results', [])]
        want = (
            [v for k, v in results[0]['Metrics'].items() if k.startswith('mIoU')] if results else []
        )
        assert numbers == want, name
        assert ours == '-'  # no number of ours without a run that made it
