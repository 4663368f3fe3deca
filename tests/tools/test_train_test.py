"""End-to-end tests of the launch and evaluation tools on the tiny demo data (CPU, gloo).

One 2-process ``dist_train.sh`` run (module fixture) gives the checkpoint every other test
uses: resume, ``dist_test.sh`` / ``slurm_test.sh`` vs one-process ``test.py``, ``--tta``,
the VOC and Cityscapes submission files, the leaderboard, the curves, and a killed worker.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import csv
import glob
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from PIL import Image

from wider_mm.evaluation import leaderboard as board

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / 'tools'
CONFIGS = Path(__file__).resolve().parent / 'configs'
TINY_VOC = CONFIGS / 'tiny_voc.py'
VOC_IDS = (0, 1, 3, 7, 15)
CPU_ONLY = pytest.mark.skipif(
    torch.cuda.is_available(), reason='checks the CPU-process (gloo) fallbacks'
)  # VOC ids of the demo classes, in the config's class order


def _load_tool(name: str):
    spec = importlib.util.spec_from_file_location(f'wider_tools_{name}', TOOLS / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


train_tool = _load_tool('train')
test_tool = _load_tool('test')
leaderboard_tool = _load_tool('leaderboard')
plot_tool = _load_tool('plot_curves')
demo_data_tool = _load_tool('make_demo_data')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(
        os.environ,
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()),
        PYTHONWARNINGS='ignore',
        PYTHONPATH=os.pathsep.join([str(CONFIGS), os.environ.get('PYTHONPATH', '')]),
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _run(cmd, timeout=240, env=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd],
        cwd=ROOT,
        env=env or _env(),
        timeout=timeout,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, f'{cmd} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    return proc


def _voc_opts(data: Path) -> list:
    root = data / 'VOCdevkit' / 'VOC2012'
    return [
        f'{k}.dataset.data_root={root}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]


def _inproc(extra=()) -> list:
    # a fresh visualizer per in-process run (mmengine keeps instances by name)
    return [f'visualizer.name=vis_{uuid.uuid4().hex[:8]}', *extra]


def _records(work_dir: Path) -> list:
    return [
        json.loads(Path(f).read_text())
        for f in sorted(glob.glob(str(work_dir / '*' / 'metrics.json')))
    ]


@pytest.fixture(scope='module')
def data(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp('demo_data') / 'demo'
    demo_data_tool.make_demo_data(
        str(out), num_train=4, num_val=3, num_test=2, size=(48, 32), seed=1
    )
    return out


@pytest.fixture(scope='module')
def trained(data, tmp_path_factory):
    """Two CPU processes (gloo) train 4 iterations; checkpoints at 2 and 4."""
    work = tmp_path_factory.mktemp('train') / 'work'
    proc = _run(
        [
            TOOLS / 'dist_train.sh',
            CONFIGS / 'tiny_voc_dist.py',
            2,
            '--work-dir',
            work,
            '--cfg-options',
            *_voc_opts(data),
        ]
    )
    return dict(work=work, ckpt=work / 'iter_4.pth', log=proc.stdout + proc.stderr)


@CPU_ONLY
def test_dist_train_cpu_processes_write_checkpoints(trained):
    work = trained['work']
    assert (work / 'iter_2.pth').is_file() and trained['ckpt'].is_file()
    assert Path((work / 'last_checkpoint').read_text().strip()) == trained['ckpt']
    ckpt = torch.load(trained['ckpt'], map_location='cpu', weights_only=False)
    assert ckpt['meta']['iter'] == 4
    log = ''.join(Path(f).read_text() for f in glob.glob(str(work / '*' / '*.log')))
    assert "'gloo'" in log and 'SyncBN reverted to BN' in log
    assert 'Distributed training: True' in log
    # train.py closed the process group: no gloo thread is left to abort the exit
    for rank in (0, 1):
        threads = (work / f'threads_at_exit_rank{rank}.txt').read_text().split()
        assert 'python' in threads and not any('gloo' in t for t in threads), threads


RESUME_PROBE = {}


@HOOKS.register_module(force=True)
class ResumeProbeHook(Hook):
    """Records what the Runner holds when training (re)starts (after loading)."""

    def before_train(self, runner) -> None:
        model = runner.model.module if hasattr(runner.model, 'module') else runner.model
        RESUME_PROBE.update(
            iter=runner.iter,
            optimizer=copy.deepcopy(runner.optim_wrapper.state_dict()),
            schedulers=[copy.deepcopy(s.state_dict()) for s in runner.param_schedulers],
            state_dict={k: v.detach().clone() for k, v in model.state_dict().items()},
        )


def _assert_same(a, b, path='') -> None:
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), path
    elif isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _assert_same(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f'{path}[{i}]')
    else:
        assert a == b, f'{path}: {a!r} != {b!r}'


def test_resume_continues_with_saved_state(trained, data, tmp_path):
    work = tmp_path / 'resumed'
    shutil.copytree(trained['work'], work)
    (work / 'last_checkpoint').write_text(str(work / 'iter_4.pth'))
    saved = torch.load(work / 'iter_4.pth', map_location='cpu', weights_only=False)
    RESUME_PROBE.clear()
    train_tool.main(
        [
            str(CONFIGS / 'tiny_voc_probe.py'),
            '--work-dir',
            str(work),
            '--resume',
            '--cfg-options',
            *_inproc(_voc_opts(data)),
            'train_cfg.max_iters=6',
            'train_cfg.val_interval=100',
        ]
    )
    assert RESUME_PROBE['iter'] == 4 == saved['meta']['iter']
    optim = RESUME_PROBE['optimizer']
    assert optim['state'], 'SGD momentum buffers should have been restored'
    _assert_same(optim, saved['optimizer'], 'optimizer')
    _assert_same(RESUME_PROBE['schedulers'], saved['param_schedulers'], 'param_schedulers')
    _assert_same(RESUME_PROBE['state_dict'], saved['state_dict'], 'state_dict')
    after = torch.load(work / 'iter_6.pth', map_location='cpu', weights_only=False)
    assert after['meta']['iter'] == 6
    # the curves of the two runs join: iterations 1..6, each once
    train, _ = plot_tool.read_scalars(str(work))
    assert [s for s, _ in train['loss']] == [1, 2, 3, 4, 5, 6]


@contextlib.contextmanager
def _counting_forwards():
    """Record (height, width, flip) of every image the segmentor's ``predict`` runs on."""
    from mmseg.models.segmentors import EncoderDecoder

    views, original = [], EncoderDecoder.predict

    def counting(self, inputs, data_samples=None):
        for sample in data_samples or [None] * len(inputs):
            flip = bool(sample.metainfo.get('flip')) if sample is not None else False
            views.append((*inputs.shape[-2:], flip))
        return original(self, inputs, data_samples)

    EncoderDecoder.predict = counting
    try:
        yield views
    finally:
        EncoderDecoder.predict = original


def _test_single(trained, data, out):
    """The plain single-process test of the trained checkpoint."""
    return test_tool.main(
        [
            str(TINY_VOC),
            str(trained['ckpt']),
            '--work-dir',
            str(out['single']),
            '--show-dir',
            'vis',
            '--cfg-options',
            *_inproc(_voc_opts(data)),
        ]
    )


@pytest.fixture(scope='module')
def tested(trained, data, tmp_path_factory):
    """The same checkpoint tested by 1 process, 2 torchrun processes and --tta."""
    base = tmp_path_factory.mktemp('test')
    out = dict(single=base / 'single', dist=base / 'dist', tta=base / 'tta')
    with _counting_forwards() as views_single:
        rec_single = _test_single(trained, data, out)
    _run(
        [
            TOOLS / 'dist_test.sh',
            TINY_VOC,
            trained['ckpt'],
            2,
            '--work-dir',
            out['dist'],
            '--cfg-options',
            *_voc_opts(data),
        ]
    )
    with _counting_forwards() as views_tta:
        rec_tta = test_tool.main(
            [
                str(TINY_VOC),
                str(trained['ckpt']),
                '--work-dir',
                str(out['tta']),
                '--tta',
                '--cfg-options',
                *_inproc(_voc_opts(data)),
            ]
        )
    return dict(
        dirs=out,
        single=rec_single,
        dist=_records(out['dist'])[-1],
        tta=rec_tta,
        views=dict(single=views_single, tta=views_tta),
    )


def test_dist_test_matches_single_process(tested):
    single, dist = tested['single'], tested['dist']
    assert single['world_size'] == 1 and dist['world_size'] == 2
    assert set(single['metrics']) == {'aAcc', 'mIoU', 'mAcc'}
    assert dist['metrics'] == single['metrics']
    assert dist['per_class'] == single['per_class']
    assert list(single['per_class']['IoU']) == ['background', 'aeroplane', 'bird', 'car', 'person']
    # the record on disk is the one returned
    assert _records(tested['dirs']['single'])[-1] == single


@CPU_ONLY
def test_bn_statistics_agree_across_processes(trained, tested):
    """SyncBN is reverted to BN on CPU; the BN running statistics are still one set (averaged
    over the processes), so the validation during training scores like a test of the saved
    checkpoint."""
    ranks = [torch.load(trained['work'] / f'bn_stats_rank{r}.pth') for r in (0, 1)]
    saved = torch.load(trained['ckpt'], map_location='cpu', weights_only=False)['state_dict']
    assert ranks[0].keys() == ranks[1].keys() and len(ranks[0]) > 10
    for name, value in ranks[0].items():
        assert torch.equal(value, ranks[1][name]), name
        assert torch.equal(value, saved[name]), name
    _, val = plot_tool.read_scalars(str(trained['work']))
    step, miou = val['mIoU'][-1]
    assert step == 4
    assert miou == pytest.approx(tested['single']['metrics']['mIoU'], abs=1e-3)


def test_show_dir_writes_overlays(tested, data):
    vis = Path(tested['single']['show_dir'])
    names = (data / 'VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt').read_text().split()
    pngs = sorted(vis.glob('*.png'))
    assert len(pngs) == len(names)
    w, h = Image.open(data / 'VOCdevkit/VOC2012/JPEGImages' / f'{names[0]}.jpg').size
    assert Image.open(pngs[0]).size == (2 * w, h)  # ground truth | prediction


def test_tta_runs_multi_scale_and_flip(tested):
    tta = tested['tta']
    assert tta['protocol']['tta'] is True and tta['protocol']['flip'] is True
    assert tta['protocol']['scales'] == [0.75, 1.25]
    assert tested['single']['protocol']['tta'] is False
    # what ran: every image at both scales, each plain and flipped (4 forwards per image)
    single, views = tested['views']['single'], collections.Counter(tested['views']['tta'])
    assert single and not any(flip for *_, flip in single)
    assert sum(views.values()) == 4 * len(single)
    assert len(views) == 4 and set(views.values()) == {len(single)}
    assert {flip for *_, flip in views} == {False, True}
    heights = sorted({h for h, _, _ in views})
    assert len(heights) == 2 and heights[0] < single[0][0] < heights[1]
    assert 0 <= tta['metrics']['mIoU'] <= 100 and tta['per_class']['IoU']


def test_slide_inference_where_configured(trained, data, tmp_path, monkeypatch):
    from mmseg.models.segmentors import EncoderDecoder

    calls = []
    original = EncoderDecoder.slide_inference

    def counting(self, inputs, batch_img_metas):
        calls.append(tuple(inputs.shape[-2:]))
        return original(self, inputs, batch_img_metas)

    monkeypatch.setattr(EncoderDecoder, 'slide_inference', counting)
    rec = test_tool.main(
        [
            str(TINY_VOC),
            str(trained['ckpt']),
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            *_inproc(_voc_opts(data)),
            'model.test_cfg.mode=slide',
            'model.test_cfg.crop_size=(32,32)',
            'model.test_cfg.stride=(16,16)',
        ]
    )
    assert rec['protocol'] == dict(
        tta=False,
        mode='slide',
        crop_size=[32, 32],
        stride=[16, 16],
        Resize=dict(scale=[48, 32], keep_ratio=True),
    )
    assert calls == [(32, 48)] * 3  # every val image, at the test scale
    assert 0 <= rec['metrics']['mIoU'] <= 100


def test_slurm_test_with_two_tasks(trained, data, tmp_path, tested):
    """slurm_test.sh through a stand-in srun/scontrol that start tasks as Slurm does."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(
        '#!/usr/bin/env bash\n'
        'echo "$@" > "$FAKE_SRUN_LOG"\n'
        'n=1\n'
        'while [[ $# -gt 0 ]]; do\n'
        '  case "$1" in\n'
        '    --ntasks=*) n=${1#*=};;\n'
        '    -p) shift;;\n'
        '    -*) ;;\n'
        '    *) break;;\n'
        '  esac; shift\n'
        'done\n'
        'pids=()\n'
        'for ((i = 0; i < n; i++)); do\n'
        '  SLURM_PROCID=$i SLURM_NTASKS=$n SLURM_LOCALID=$i SLURM_NODELIST=node[1-2] "$@" &\n'
        '  pids+=($!)\n'
        'done\n'
        'rc=0; for p in "${pids[@]}"; do wait "$p" || rc=$?; done; exit $rc\n'
    )
    (bin_dir / 'scontrol').write_text('#!/usr/bin/env bash\necho 127.0.0.1\necho node2\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    log = tmp_path / 'srun.args'
    env = _env(
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
        FAKE_SRUN_LOG=log,
        GPUS=2,
        GPUS_PER_NODE=2,
        GRES='',
        MASTER_PORT=_free_port(),
    )
    work = tmp_path / 'slurm'
    _run(
        [
            TOOLS / 'slurm_test.sh',
            'cpu',
            'wrn-test',
            TINY_VOC,
            trained['ckpt'],
            '--work-dir',
            work,
            '--cfg-options',
            *_voc_opts(data),
        ],
        env=env,
    )
    args = log.read_text().split()
    assert args[:2] == ['-p', 'cpu'] and '--job-name=wrn-test' in args
    assert '--ntasks=2' in args and '--kill-on-bad-exit=1' in args
    assert not any(a.startswith('--gres') for a in args)
    rec = _records(work)[-1]
    assert rec['world_size'] == 2 and rec['metrics'] == tested['single']['metrics']


def test_leaderboard_from_test_outputs(tested, tmp_path):
    dirs = tested['dirs']
    out = tmp_path / 'board'
    assert (
        leaderboard_tool.main([str(dirs['single']), str(dirs['tta']), '--out-dir', str(out)]) == 0
    )
    with open(out / 'leaderboard.csv') as f:
        rows = list(csv.DictReader(f))
    ours = {(r['run'], r['metric']): r for r in rows if r['source'] == 'ours'}
    for run in ('single', 'tta'):
        rec = tested[run]
        assert float(ours[(run, 'mIoU')]['value']) == round(rec['metrics']['mIoU'], 2)
        assert ours[(run, 'mIoU')]['published'] == ''  # 5 demo classes: not comparable
        assert 'not comparable: 5 of 21' in ours[(run, 'mIoU')]['published_setting']
    assert 'multi-scale [0.75,1.25] + flip' in ours[('tta', 'mIoU')]['protocol']
    paper = [r for r in rows if r['source'] == 'paper']
    val = {float(r['value']) for r in paper if r['split'] == 'val' and r['metric'] == 'mIoU'}
    assert val == {80.84, 82.86}  # (PSA's CAM mIoU on val is a row of its own metric)
    assert (out / 'leaderboard.md').read_text().split('|')[1].strip() == 'source'
    assert Image.open(out / 'leaderboard.png').size[0] > 100

    # a record on the full class list is put beside the paper's number
    full = copy.deepcopy(tested['single'])
    full['dataset']['classes'] = [f'c{i}' for i in range(21)]
    (tmp_path / 'full' / 'x').mkdir(parents=True)
    (tmp_path / 'full' / 'x' / 'metrics.json').write_text(json.dumps(full))
    rows = board.build_rows(board.load_records([str(tmp_path / 'full')]))
    miou = next(r for r in rows if r['source'] == 'ours' and r['metric'] == 'mIoU')
    assert miou['published'] == 80.84
    assert miou['delta'] == round(full['metrics']['mIoU'] - 80.84, 2)


def test_plot_curves(trained):
    out = Path(plot_tool.plot_curves(str(trained['work'])))
    assert out == trained['work'] / 'curves.png' and Image.open(out).size[0] > 100
    train, val = plot_tool.read_scalars(str(trained['work']))
    assert [s for s, _ in train['loss']] == [1, 2, 3, 4]
    assert [s for s, _ in val['mIoU']] == [2, 4]


def _voc_palette_21() -> list:
    from mmseg.datasets import PascalVOCDataset

    return [c for rgb in PascalVOCDataset.METAINFO['palette'] for c in rgb]


def test_format_only_voc_submission(trained, data, tmp_path):
    voc = data / 'VOCdevkit' / 'VOC2012'
    names = (voc / 'ImageSets/Segmentation/test.txt').read_text().split()
    assert not any((voc / 'SegmentationClass' / f'{n}.png').exists() for n in names)
    out = tmp_path / 'voc_sub'
    rec = test_tool.main(
        [
            str(TINY_VOC),
            str(trained['ckpt']),
            '--format-only',
            '--tta',  # multi-scale + flip without ground truth, as for a test-server entry
            '--out',
            str(out),
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            *_inproc(_voc_opts(data)),
            'test_dataloader.dataset.ann_file=ImageSets/Segmentation/test.txt',
        ]
    )
    archive = Path(rec['format_only']['archive'])
    assert archive == out / 'VOC2012_comp6_results.tar.gz' and rec['protocol']['tta']
    layout = 'results/VOC2012/Segmentation/comp6_test_cls'
    with tarfile.open(archive) as tar:
        assert sorted(tar.getnames()) == sorted(f'{layout}/{n}.png' for n in names)
    for n in names:
        png = Image.open(out / layout / f'{n}.png')
        assert png.mode == 'P'
        assert png.getpalette()[:63] == _voc_palette_21()
        assert png.size == Image.open(voc / 'JPEGImages' / f'{n}.jpg').size
        assert set(np.unique(np.array(png))) <= set(VOC_IDS)

    # on the val split: the submission ids are the raw predictions mapped back to VOC ids
    raw, sub = tmp_path / 'raw', tmp_path / 'sub_val'
    test_tool.main(
        [
            str(TINY_VOC),
            str(trained['ckpt']),
            '--out',
            str(raw),
            '--work-dir',
            str(tmp_path / 'w2'),
            '--cfg-options',
            *_inproc(_voc_opts(data)),
        ]
    )
    test_tool.main(
        [
            str(TINY_VOC),
            str(trained['ckpt']),
            '--format-only',
            '--out',
            str(sub),
            '--work-dir',
            str(tmp_path / 'w3'),
            '--cfg-options',
            *_inproc(_voc_opts(data)),
        ]
    )
    lut = np.array(VOC_IDS, np.uint8)
    seen = set()
    for n in (voc / 'ImageSets/Segmentation/val.txt').read_text().split():
        pred = np.array(Image.open(raw / f'{n}.png'))
        seen |= set(np.unique(pred))
        assert np.array_equal(np.array(Image.open(sub / layout / f'{n}.png')), lut[pred])
    assert seen, 'no predictions'


def test_format_only_refuses_non_empty_out(trained, data, tmp_path):
    (tmp_path / 'out').mkdir()
    (tmp_path / 'out' / 'keep.txt').write_text('user file')
    with pytest.raises(SystemExit, match='not empty'):
        test_tool.main(
            [
                str(TINY_VOC),
                str(trained['ckpt']),
                '--format-only',
                '--out',
                str(tmp_path / 'out'),
                '--cfg-options',
                *_voc_opts(data),
            ]
        )
    assert (tmp_path / 'out' / 'keep.txt').read_text() == 'user file'


def test_format_only_cityscapes_label_ids(data, tmp_path):
    """Cityscapes test split (no gtFine): labelIds PNGs = trainId predictions mapped."""
    from cityscapesscripts.helpers.labels import trainId2label
    from mmseg.apis import inference_model, init_model

    cfg = str(CONFIGS / 'tiny_cityscapes.py')
    root = data / 'cityscapes'
    opts = [f'{k}.dataset.data_root={root}' for k in ('val_dataloader', 'test_dataloader')]
    model = init_model(
        cfg, device='cpu', cfg_options={o.split('=')[0]: o.split('=')[1] for o in opts}
    )
    ckpt = tmp_path / 'init.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    out = tmp_path / 'cs_sub'
    rec = test_tool.main(
        [
            cfg,
            str(ckpt),
            '--format-only',
            '--out',
            str(out),
            '--work-dir',
            str(tmp_path / 'w'),
            '--cfg-options',
            *_inproc(opts),
            'test_dataloader.dataset.data_prefix.img_path=leftImg8bit/test',
            'test_dataloader.dataset.data_prefix.seg_map_path=gtFine/test',
        ]
    )
    assert not (root / 'gtFine' / 'test').exists()
    images = sorted(glob.glob(str(root / 'leftImg8bit' / 'test' / '*' / '*_leftImg8bit.png')))
    assert images
    with zipfile.ZipFile(rec['format_only']['archive']) as zf:
        assert sorted(zf.namelist()) == sorted(Path(p).name for p in images)
    valid = {lab.id for t, lab in trainId2label.items() if 0 <= t < 255}
    seen = set()
    for img in images:
        png = np.array(Image.open(out / Path(img).name))
        assert png.shape == np.array(Image.open(img)).shape[:2]
        assert set(np.unique(png)) <= valid
        train_ids = inference_model(model, img).pred_sem_seg.data[0].numpy()
        seen |= set(np.unique(train_ids))
        expect = np.vectorize(lambda t: trainId2label[t].id)(train_ids)
        assert np.array_equal(png, expect)
    assert seen


def _descendants(pid: int) -> list:
    children = {}
    for stat in glob.glob('/proc/[0-9]*/stat'):
        try:
            fields = Path(stat).read_text().rsplit(')', 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split('/')[2]))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _local_rank(pid: int):
    try:
        env = Path(f'/proc/{pid}/environ').read_bytes().split(b'\0')
    except OSError:
        return None
    for kv in env:
        if kv.startswith(b'LOCAL_RANK='):
            return int(kv.split(b'=')[1])
    return None


def _alive(pid: int) -> bool:
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except OSError:
        return False
    return state != 'Z'


def test_killed_worker_fails_the_launch(data, tmp_path):
    work = tmp_path / 'killed'
    proc = subprocess.Popen(
        [
            str(TOOLS / 'dist_train.sh'),
            str(TINY_VOC),
            '2',
            '--work-dir',
            str(work),
            '--cfg-options',
            *_voc_opts(data),
            'train_cfg.max_iters=100000',
        ],
        cwd=tmp_path,  # a killed run leaves mmengine's .dist_test/ behind in the cwd
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            logs = glob.glob(str(work / '*' / '*.log'))
            if logs and 'Iter(train)' in Path(logs[0]).read_text():
                break
            time.sleep(0.5)
        assert proc.poll() is None, 'training ended before it could be killed'
        workers = {_local_rank(p): p for p in _descendants(proc.pid)}
        assert 0 in workers and 1 in workers, workers
        os.kill(workers[1], signal.SIGKILL)
        start = time.time()
        _, err = proc.communicate(timeout=90)
        elapsed = time.time() - start
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode != 0
    assert elapsed < 60, f'the launch took {elapsed:.0f} s to fail'
    assert 'dist_train.sh: FAILED' in err
    assert not _alive(workers[0]), 'the surviving worker was left running'


def test_classification_config_routes_to_mmpretrain(tmp_path):
    rng = np.random.default_rng(0)
    for cls, colour in (('red', (200, 40, 40)), ('blue', (40, 40, 200))):
        (tmp_path / 'cls' / cls).mkdir(parents=True)
        for i in range(4):
            img = np.clip(np.array(colour) + rng.normal(0, 20, (36, 36, 3)), 0, 255)
            Image.fromarray(img.astype(np.uint8)).save(tmp_path / 'cls' / cls / f'{i}.png')
    opts = [
        f'{k}.dataset.data_root={tmp_path / "cls"}'
        for k in ('train_dataloader', 'val_dataloader', 'test_dataloader')
    ]
    work = tmp_path / 'work'
    runner = train_tool.main(
        [str(CONFIGS / 'tiny_cls.py'), '--work-dir', str(work), '--cfg-options', *_inproc(opts)]
    )
    assert type(runner.model).__name__ == 'ImageClassifier'
    assert (work / 'epoch_1.pth').is_file()
    rec = test_tool.main(
        [
            str(CONFIGS / 'tiny_cls.py'),
            str(work / 'epoch_1.pth'),
            '--work-dir',
            str(work),
            '--out',
            str(tmp_path / 'preds.pkl'),
            '--cfg-options',
            *_inproc(opts),
        ]
    )
    assert rec['scope'] == 'mmpretrain' and 0 <= rec['metrics']['accuracy/top1'] <= 100
    assert rec['dataset']['classes'] == ['blue', 'red']
    assert (tmp_path / 'preds.pkl').is_file()


def test_clear_errors(trained, data, tmp_path):
    bad = tmp_path / 'bad_scope.py'
    bad.write_text("default_scope = 'mmdet'\n")
    with pytest.raises(ValueError, match="default_scope is 'mmdet'"):
        train_tool.main([str(bad)])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match='--amp needs a GPU'):
            train_tool.main([str(TINY_VOC), '--amp', '--work-dir', str(tmp_path / 'w')])
    no_tta = tmp_path / 'no_tta.py'
    no_tta.write_text(f"_base_ = ['{TINY_VOC}']\ntta_model = None\n")
    with pytest.raises(SystemExit, match='--tta: the config defines no tta_model'):
        test_tool.main([str(no_tta), str(trained['ckpt']), '--tta'])
    with pytest.raises(SystemExit, match='does not fit the model'):
        test_tool.main(
            [
                str(TINY_VOC),
                str(trained['ckpt']),
                '--work-dir',
                str(tmp_path / 'w'),
                '--cfg-options',
                *_inproc(_voc_opts(data)),
                'model.decode_head.channels=16',
            ]
        )
    with pytest.raises(SystemExit, match='does not exist'):
        test_tool.main([str(TINY_VOC), str(tmp_path / 'missing.pth')])


def test_shell_scripts_usage_and_python(tmp_path):
    for script, n in (
        ('dist_train.sh', 2),
        ('dist_test.sh', 3),
        ('slurm_train.sh', 3),
        ('slurm_test.sh', 4),
    ):
        # one argument short: a usage message, nothing started
        proc = subprocess.run(
            [str(TOOLS / script), *['x'] * (n - 1)], capture_output=True, text=True
        )
        assert proc.returncode == 2 and f'usage: {TOOLS / script}' in proc.stderr
    # without a .venv beside them they run `python` from PATH (the runs above use .venv's)
    fake = tmp_path / 'tools'
    fake.mkdir()
    for name in ('dist_train.sh', 'dist_launch.sh', 'slurm_train.sh', 'slurm_launch.sh'):
        shutil.copy(TOOLS / name, fake / name)
    (tmp_path / 'bin').mkdir()
    for exe in ('python', 'srun'):
        (tmp_path / 'bin' / exe).write_text('#!/usr/bin/env bash\necho "RAN $0 $*"\n')
        (tmp_path / 'bin' / exe).chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path / "bin"}:{os.environ["PATH"]}')
    out = subprocess.run(
        [str(fake / 'dist_train.sh'), 'cfg.py', '2'], capture_output=True, text=True, env=env
    ).stdout
    assert out.startswith(f'RAN {tmp_path / "bin" / "python"} -m torch.distributed.run')
    assert '--nproc_per_node=2' in out
    assert f'{fake / "train.py"} --launcher pytorch cfg.py' in out
    out = subprocess.run(
        [str(fake / 'slurm_train.sh'), 'p', 'j', 'cfg.py'],
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    assert f'python -u {fake / "train.py"} cfg.py --launcher slurm' in out
    assert '--gres=gpu:8' in out and '--ntasks=8' in out
