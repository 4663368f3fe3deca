"""The leaderboard: our records beside the model zoo's numbers, as Markdown, CSV and PNG.

The published numbers are read here independently (PyYAML over the metafiles) and must be
exactly the ones the leaderboard shows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml
from PIL import Image

from wider_mm.evaluation import leaderboard as board
from wider_mm.evaluation.published import ZOO_DATASETS
from wider_mm.evaluation.record import write_record
from wider_mm.zoo import get_model_info

ROOT = Path(__file__).resolve().parents[2]
METAFILES = sorted(ROOT.glob('configs/**/metafile.yaml'))


def _raw_models():
    for mf in METAFILES:
        yield from yaml.safe_load(mf.read_text())['Models']


def _rec(classes: int = 21, **kw) -> dict:
    rec = dict(
        _run='r',
        scope='mmseg',
        config='other.py',
        dataset=dict(type='PascalVOCDataset', classes=[f'c{i}' for i in range(classes)]),
        model=dict(type='WiderResNet', variant='a1'),
        protocol={},
        metrics={'mIoU': 70.0},
    )
    rec.update(kw)
    return rec


def _expected(metrics: dict) -> dict:
    """Metafile metrics as the leaderboard names them (accuracy -> error)."""
    out = {}
    for k, v in metrics.items():
        if k.startswith('Top '):
            out.setdefault(f'top{k[4]}_err', set()).add(round(100 - v, 2))
        else:
            out.setdefault(k.split('(')[0], set()).add(float(v))
    return out


@pytest.mark.parametrize(
    'dataset_type,key,classes',
    [
        ('PascalVOCDataset', 'voc12', 21),
        ('CityscapesDataset', 'cityscapes', 19),
        ('ADE20KDataset', 'ade20k', 150),
        ('PascalContextDataset', 'pascal_context', 60),
        ('ImageNet', 'imagenet', 1000),
    ],
)
def test_leaderboard_shows_the_metafile_numbers(dataset_type, key, classes):
    scope = 'mmpretrain' if key == 'imagenet' else 'mmseg'
    metrics = {'accuracy/top1': 80.0} if scope == 'mmpretrain' else {'mIoU': 50.0}
    rec = _rec(classes, scope=scope, metrics=metrics)
    rec['dataset']['type'] = dataset_type
    shown = {}
    for row in board.build_rows([rec]):
        if row['source'] == 'paper':
            shown.setdefault((row['split'], row['metric']), set()).add(row['value'])
    want = {}
    for m in _raw_models():
        for r in m['Results']:
            if ZOO_DATASETS[r['Dataset']] == key:
                for metric, values in _expected(r['Metrics']).items():
                    want.setdefault((r['Split'], metric), set()).update(values)
    assert want and shown == want


def test_a_zoo_config_is_compared_with_its_own_number_or_baseline():
    def row_for(config: str) -> dict:
        rows = board.build_rows([_rec(config=f'/x/configs/segmentation/{config}.py')])
        return next(r for r in rows if r['source'] == 'ours'), rows

    ours, _ = row_for('widerhead_wrn38a1-d8_4xb4-40k_voc12aug-504x504')
    assert ours['published'] == 80.84
    fcn = 'fcn_wrn38a1-d8_4xb4-40k_voc12aug-512x512'
    ours, rows = row_for(fcn)
    base = get_model_info(fcn).compare_with[0]['Results'][0]['Metrics']['mIoU']
    assert ours['published'] == base and 'mmseg' in ours['published_setting']
    assert any(r['source'] == 'baseline' and r['value'] == base for r in rows)


def test_names_of_models_and_protocols():
    assert board.model_name(dict(type='WiderResNet', depth=38, variant='a2')) == 'WRN-38 A2'
    wide = dict(type='WiderResNet', depth=16, widen_factor=0.0625, output_stride=8)
    assert board.model_name(wide) == 'WRN-16 A1 x1/16 OS8'
    assert board.model_name(dict(type='ResNetV1c')) == 'ResNetV1c'
    tta = dict(tta=True, scales=[0.75, 1.25], flip=True, mode='slide', crop_size=[9], stride=[4])
    assert board.protocol_name(tta) == 'multi-scale [0.75,1.25] + flip, slide [9]/[4]'
    assert board.protocol_name({}) == 'single scale'
    assert board.split_of(_rec(dataset=dict(ann_file='ImageSets/test.txt'))) == 'test'
    assert board.split_of(_rec(split='train')) == 'train'
    cls = _rec(scope='mmpretrain', metrics={'accuracy/top1': 80.5, 'accuracy/top5': 95.0})
    assert board.our_metrics(cls) == [('top1_err', 19.5), ('top5_err', 5.0)]


def test_a_class_subset_is_not_compared():
    ours = next(r for r in board.build_rows([_rec(classes=5)]) if r['source'] == 'ours')
    assert ours['published'] == '' and ours['delta'] == ''
    assert ours['published_setting'] == 'not comparable: 5 of 21 classes'


def test_written_files_hold_every_row(tmp_path):
    rec = _rec(timestamp='1', metrics={'mIoU': 70.0, 'aAcc': 90.0})
    write_record({k: v for k, v in rec.items() if k != '_run'}, str(tmp_path / 'run' / '1'))
    md, files = board.write_leaderboard([str(tmp_path / 'run')], str(tmp_path / 'out'), 'lb')
    assert files == [str(tmp_path / 'out' / f'lb.{x}') for x in ('md', 'csv', 'png')]
    rows = board.build_rows(board.load_records([str(tmp_path / 'run')]))
    with open(files[1]) as f:
        got = list(csv.DictReader(f))
    assert list(got[0]) == board.COLUMNS and len(got) == len(rows)
    assert [g['value'] for g in got] == [str(r['value']) for r in rows]
    lines = Path(files[0]).read_text().splitlines()
    assert md == Path(files[0]).read_text() and len(lines) == 2 + len(rows)
    cells = [[c.strip() for c in line.strip('|').split('|')] for line in lines]
    assert cells[0] == board.HEADERS and cells[0][10] == 'Δ'
    assert cells[2] == [str(rows[0][c]) for c in board.COLUMNS]
    assert cells[2][:2] == ['ours', 'run'] and cells[2][7:11] == ['mIoU', '70.0', '80.84', '-10.84']
    assert Image.open(files[2]).size[0] > 100


def test_no_record_or_no_metrics_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match='run tools/test.py'):
        board.write_leaderboard([str(tmp_path)], str(tmp_path / 'out'))
    write_record(dict(_rec(), metrics={}), str(tmp_path / 'fmt' / '1'))
    with pytest.raises(ValueError, match='hold no metrics'):
        board.write_leaderboard([str(tmp_path / 'fmt')], str(tmp_path / 'out'))
    assert not (tmp_path / 'out').exists()
