"""tools/test.py around the runner: its flags as config edits before, the record after."""

from __future__ import annotations

import argparse
import json
import logging
import zipfile
from types import SimpleNamespace

import pytest
from mmengine.config import Config

from wider_mm.engine.test_setup import finish_test, prepare_test


def _args(**kw) -> argparse.Namespace:
    flags = dict(
        config='c.py',
        checkpoint='w.pth',
        out=None,
        out_item='pred',
        format_only=False,
        show=False,
        show_dir=None,
        show_interval=1,
        wait_time=2,
        tta=False,
    )
    return argparse.Namespace(**{**flags, **kw})


def _cfg(tmp_path, dataset: str = 'PascalVOCDataset') -> Config:
    tta_steps = [[dict(type='Resize', scale_factor=s) for s in (0.5, 1.0)]]
    tta_steps.append([dict(type='RandomFlip', prob=1.0)])
    return Config(
        dict(
            work_dir=str(tmp_path / 'work'),
            model=dict(
                type='EncoderDecoder',
                backbone=dict(type='WiderResNet', depth=38, variant='a1', in_channels=3),
                decode_head=dict(type='WiderHead'),
                test_cfg=dict(mode='slide', crop_size=(8, 8), stride=(4, 4)),
            ),
            tta_model=dict(type='SegTTAModel'),
            tta_pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='TestTimeAug', transforms=tta_steps),
            ],
            test_dataloader=dict(
                dataset=dict(
                    type=dataset,
                    pipeline=[
                        dict(type='LoadImageFromFile'),
                        dict(type='Resize', scale=(16, 8), keep_ratio=True),
                        dict(type='LoadAnnotations'),
                    ],
                )
            ),
            test_evaluator=dict(type='IoUMetric', iou_metrics=['mIoU']),
        )
    )


def test_single_scale_keeps_the_per_class_table_and_the_prediction_folder(tmp_path):
    cfg = _cfg(tmp_path)
    prepared = prepare_test(cfg, _args(out=str(tmp_path / 'preds')), 'mmseg')
    assert prepared.model == dict(
        type='WiderResNet',
        depth=38,
        variant='a1',
        segmentor='EncoderDecoder',
        decode_head='WiderHead',
    )
    assert prepared.protocol == dict(
        tta=False,
        mode='slide',
        crop_size=(8, 8),
        stride=(4, 4),
        Resize=dict(scale=(16, 8), keep_ratio=True),
    )
    assert cfg.test_evaluator == dict(
        type='ClasswiseIoUMetric',
        iou_metrics=['mIoU'],
        output_dir=str(tmp_path / 'preds'),
        keep_results=True,
    )
    assert prepared.format_kind is prepared.show_dir is None


def test_tta_describes_the_scales_and_the_model_before_its_wrapper(tmp_path):
    cfg = _cfg(tmp_path)
    prepared = prepare_test(cfg, _args(tta=True), 'mmseg')
    assert cfg.model.type == 'SegTTAModel' and cfg.model.module.type == 'EncoderDecoder'
    assert prepared.model['segmentor'] == 'EncoderDecoder'
    assert prepared.protocol == dict(
        tta=True, mode='slide', crop_size=(8, 8), stride=(4, 4), scales=[0.5, 1.0], flip=True
    )


@pytest.mark.parametrize(
    'dataset,kind', [('PascalVOCDataset', 'voc'), ('CityscapesDataset', 'cityscapes')]
)
def test_format_only_writes_server_files_into_the_work_dir(tmp_path, dataset, kind):
    cfg = _cfg(tmp_path, dataset)
    prepared = prepare_test(cfg, _args(format_only=True), 'mmseg')
    assert prepared.format_kind == kind
    assert prepared.format_dir == str(tmp_path / 'work' / 'format_results')
    assert cfg.test_evaluator['output_dir'] == prepared.format_dir
    assert [t['type'] for t in cfg.test_dataloader.dataset.pipeline] == [
        'LoadImageFromFile',
        'Resize',
    ]


def test_bad_flags_and_existing_outputs_end_in_one_line_before_anything_is_built(tmp_path):
    with pytest.raises(SystemExit, match='--out-item metrics needs --out FILE'):
        prepare_test(_cfg(tmp_path), _args(out_item='metrics'), 'mmseg')
    with pytest.raises(SystemExit, match='--format-only is for segmentation configs'):
        prepare_test(_cfg(tmp_path), _args(format_only=True), 'mmpretrain')
    (tmp_path / 'preds').mkdir()
    (tmp_path / 'preds' / 'a.png').write_bytes(b'x')
    with pytest.raises(SystemExit, match=r'test.py: --out .*preds is not empty'):
        prepare_test(_cfg(tmp_path), _args(out=str(tmp_path / 'preds')), 'mmseg')
    with pytest.raises(SystemExit, match=r'test.py: --out .*a.png already exists'):
        prepare_test(_cfg(tmp_path), _args(out=str(tmp_path / 'preds' / 'a.png')), 'mmpretrain')
    assert not (tmp_path / 'work').exists()


def test_finish_packs_the_server_files_and_writes_the_record(tmp_path):
    cfg = _cfg(tmp_path, 'CityscapesDataset')
    args = _args(format_only=True, show_dir='vis')
    cfg.default_hooks = dict(visualization=dict(type='SegVisualizationHook'))
    cfg.visualizer = dict(type='SegLocalVisualizer')
    prepared = prepare_test(cfg, args, 'mmseg')
    (tmp_path / 'work' / 'format_results').mkdir(parents=True)
    (tmp_path / 'work' / 'format_results' / 'a_leftImg8bit.png').write_bytes(b'png')
    evaluator = SimpleNamespace(dataset_meta=None, metrics=[])
    runner = SimpleNamespace(
        logger=logging.getLogger('test_setup'),
        world_size=1,
        timestamp='t0',
        test_evaluator=evaluator,
    )
    record = finish_test(cfg, args, 'mmseg', prepared, runner, {})
    fmt = str(tmp_path / 'work' / 'format_results')
    assert record['format_only'] == dict(
        kind='cityscapes', output_dir=fmt, archive=f'{fmt}/cityscapes_results.zip'
    )
    with zipfile.ZipFile(record['format_only']['archive']) as zf:
        assert zf.namelist() == ['a_leftImg8bit.png']
    assert record['show_dir'] == str(tmp_path / 'work' / 'vis' / 'vis_data' / 'vis_image')
    saved = json.loads((tmp_path / 'work' / 't0' / 'metrics.json').read_text())
    assert saved == record and record['protocol']['tta'] is False


def test_finish_writes_the_metrics_file_of_out_item_metrics(tmp_path):
    cfg = _cfg(tmp_path)
    args = _args(out=str(tmp_path / 'm.yaml'), out_item='metrics')
    prepared = prepare_test(cfg, args, 'mmseg')
    evaluator = SimpleNamespace(dataset_meta=dict(classes=['a']), metrics=[])
    runner = SimpleNamespace(
        logger=logging.getLogger('test_setup'),
        world_size=1,
        timestamp='t1',
        test_evaluator=evaluator,
    )
    record = finish_test(cfg, args, 'mmseg', prepared, runner, {'mIoU': 12.345678})
    assert (tmp_path / 'm.yaml').read_text().strip() == 'mIoU: 12.3457'
    assert record['metrics'] == {'mIoU': 12.3457} and record['dataset']['classes'] == ['a']
    assert (tmp_path / 'work' / 't1' / 'metrics.json').is_file()
