"""The metrics record: written once, read back by the leaderboard and the demo summary."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
from mmengine.config import Config

from wider_mm.evaluation import record as rec_mod


def _rec(ts, tta, miou):
    return dict(
        checkpoint='w.pth',
        timestamp=ts,
        protocol=dict(tta=tta, mode='whole'),
        metrics=dict(mIoU=miou, aAcc=90.0),
        per_class=dict(IoU={'background': 80.0, 'cat': miou}),
    )


def test_write_then_read_keeps_the_record_and_orders_by_time(tmp_path):
    rec_mod.write_record(dict(_rec('2', False, np.float32(50.5))), str(tmp_path / '2'))
    rec_mod.write_record(_rec('1', True, 40.0), str(tmp_path / '1'))
    rec_mod.write_record(dict(_rec('3', False, 0), metrics={}), str(tmp_path / '3'))  # unscored
    recs = rec_mod.read_records([str(tmp_path)])
    assert [r['timestamp'] for r in recs] == ['1', '2']
    assert recs[1]['metrics']['mIoU'] == 50.5 and recs[1]['_run'] == tmp_path.name
    assert recs[1]['_path'] == str(tmp_path / '2' / 'metrics.json')
    assert len(rec_mod.read_records([str(tmp_path)], scored_only=False)) == 3


def test_latest_per_protocol_keeps_the_newest_run_of_each_protocol(tmp_path):
    for ts, tta, miou in (('1', False, 10.0), ('2', False, 20.0), ('3', True, 30.0)):
        rec_mod.write_record(_rec(ts, tta, miou), str(tmp_path / ts))
    latest = rec_mod.latest_per_protocol(rec_mod.read_records([str(tmp_path)]))
    assert sorted(r['metrics']['mIoU'] for r in latest) == [20.0, 30.0]


def test_demo_summary_reads_single_scale_and_tta(tmp_path, capsys):
    rec_mod.write_record(_rec('1', False, 61.25), str(tmp_path / '1'))
    rec_mod.write_record(_rec('2', True, 63.5), str(tmp_path / '2'))
    assert rec_mod.main([str(tmp_path), '--total-s', '7']) == 0
    out = capsys.readouterr().out
    assert 'validation mIoU 61.25 (single scale), 63.50 (multi-scale + flip)' in out
    assert 'demo done in 7 s' in out and 'cat 61.25' in out


def test_missing_records_are_one_line_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='run tools/test.py'):
        rec_mod.read_records([str(tmp_path)])
    with pytest.raises(SystemExit, match='holds no single-scale and TTA record'):
        rec_mod.main([str(tmp_path)])


def _tested(classes=None, per_class=None):
    """A config and a runner after ``test()``, as build_record reads them."""
    dataset = dict(type='PascalVOCDataset', data_root='d', ann_file='a.txt')
    cfg = Config(dict(test_dataloader=dict(dataset=dict(dataset, data_prefix=dict(img_path='J')))))
    metrics = [SimpleNamespace(), SimpleNamespace(per_class=per_class)]
    meta = dict(classes=classes) if classes else None
    evaluator = SimpleNamespace(dataset_meta=meta, metrics=metrics)
    return cfg, SimpleNamespace(world_size=2, timestamp='20240101_000000', test_evaluator=evaluator)


def test_build_record_describes_what_was_tested_how_and_the_numbers(tmp_path):
    cfg, runner = _tested(classes=('background', 'cat'), per_class={'IoU': {'cat': 1.5}})
    rec = rec_mod.build_record(
        cfg,
        runner,
        {'mIoU': np.float32(61.23456), 'aAcc': 90, 'note': 'x'},
        config='c.py',
        checkpoint='w.pth',
        scope='mmseg',
        model={'type': 'WiderResNet', 'segmentor': 'EncoderDecoder'},
        protocol={'tta': True, 'scales': (0.5, np.float64(1.0))},
        format_only=dict(kind='voc', output_dir='o', archive=None),
        show_dir='vis',
    )
    assert rec == dict(
        config=os.path.abspath('c.py'),
        checkpoint='w.pth',
        scope='mmseg',
        dataset=dict(
            type='PascalVOCDataset',
            data_root='d',
            ann_file='a.txt',
            data_prefix=dict(img_path='J'),
            classes=['background', 'cat'],
        ),
        model={'type': 'WiderResNet', 'segmentor': 'EncoderDecoder'},
        protocol={'tta': True, 'scales': [0.5, 1.0]},
        world_size=2,
        timestamp='20240101_000000',
        metrics={'mIoU': 61.2346, 'aAcc': 90.0, 'note': 'x'},
        per_class={'IoU': {'cat': 1.5}},
        format_only=dict(kind='voc', output_dir='o', archive=None),
        show_dir='vis',
    )
    assert type(rec['protocol']['scales'][1]) is float
    path = rec_mod.write_record(rec, str(tmp_path / 'run'))
    assert rec_mod.read_records([path])[0]['metrics'] == rec['metrics']


def test_build_record_leaves_out_what_the_run_did_not_have():
    cfg, runner = _tested()
    rec = rec_mod.build_record(
        cfg, runner, None, config='/c.py', checkpoint='w', scope='mmpretrain', model={}, protocol={}
    )
    assert rec['metrics'] == {} and 'classes' not in rec['dataset']
    assert not {'per_class', 'format_only', 'show_dir'} & set(rec)
