"""mmengine 0.10.7 + torch >= 2.6: resuming a real (tiny) training run works without env vars."""

import os

import torch
from mmengine.runner import Runner
from mmpretrain.structures import DataSample
from torch.utils.data import Dataset


class _Colours(Dataset):
    """8 tiny images whose class is their dominant colour channel."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> dict:
        g = torch.Generator().manual_seed(i)
        img = torch.randint(0, 60, (3, 16, 16), generator=g, dtype=torch.uint8)
        img[i % 3] += 150
        return dict(inputs=img, data_samples=DataSample().set_gt_label(i % 3))


def _runner(work_dir: str, max_iters: int, resume: bool) -> Runner:
    model = dict(
        type='mmpretrain.ImageClassifier',
        data_preprocessor=dict(type='mmpretrain.ClsDataPreprocessor', num_classes=3),
        backbone=dict(type='WiderResNet', depth=16, widen_factor=1 / 32),
        neck=dict(type='mmpretrain.GlobalAveragePooling'),
        head=dict(
            type='mmpretrain.LinearClsHead',
            num_classes=3,
            in_channels=128,
            loss=dict(type='mmpretrain.CrossEntropyLoss'),
        ),
    )
    return Runner(
        model=model,
        work_dir=work_dir,
        train_dataloader=dict(
            dataset=_Colours(),
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='default_collate'),
            batch_size=4,
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
        resume=resume,
        default_scope='mmpretrain',
    )


def test_resume_tiny_training_run(tmp_path):
    work_dir = str(tmp_path)
    first = _runner(work_dir, max_iters=4, resume=False)
    first.train()
    assert os.path.isfile(os.path.join(work_dir, 'iter_4.pth'))
    saved = first.optim_wrapper.optimizer.state_dict()

    second = _runner(work_dir, max_iters=6, resume=True)
    second.train()  # loads iter_4.pth (numpy scalars, HistoryBuffer...) then trains 2 more
    ckpt = torch.load(os.path.join(work_dir, 'iter_6.pth'), weights_only=False)
    assert ckpt['meta']['iter'] == 6
    assert second.iter == 6
    # the resumed optimizer started from the saved momentum buffers, not from scratch
    third = _runner(work_dir, max_iters=6, resume=False)
    third.resume(os.path.join(work_dir, 'iter_4.pth'))
    assert third.iter == 4
    loaded = third.optim_wrapper.optimizer.state_dict()
    for k, v in saved['state'].items():
        torch.testing.assert_close(loaded['state'][k]['momentum_buffer'], v['momentum_buffer'])


def test_seg_visualizer_draws_on_a_strided_image_as_browse_dataset_passes_it(tmp_path):
    """mmseg's browse_dataset.py hands the visualizer ``inputs.permute(1, 2, 0).numpy()``."""
    import numpy as np
    from mmengine.structures import PixelData
    from mmseg.registry import VISUALIZERS
    from mmseg.structures import SegDataSample

    chw = torch.randint(0, 255, (3, 24, 32), dtype=torch.uint8)
    strided = chw.permute(1, 2, 0).numpy()[..., [2, 1, 0]]
    assert not strided.flags.c_contiguous
    seg = torch.zeros(1, 24, 32, dtype=torch.int64)
    seg[:, 4:20, 6:26] = 1
    sample = SegDataSample(gt_sem_seg=PixelData(data=seg))
    meta = dict(classes=('background', 'thing'), palette=[[0, 0, 0], [200, 30, 40]])

    def draw(name: str, image: np.ndarray) -> np.ndarray:
        vis = VISUALIZERS.build(dict(type='mmseg.SegLocalVisualizer', name=name, alpha=0.5))
        vis.dataset_meta = meta
        out = str(tmp_path / f'{name}.png')
        vis.add_datasample(name, image, sample, draw_pred=False, out_file=out)
        return vis.get_image()

    drawn = draw('strided', strided)
    # the same picture as from a contiguous copy, class name boxes included
    np.testing.assert_array_equal(drawn, draw('contiguous', np.ascontiguousarray(strided)))
    assert (tmp_path / 'strided.png').is_file()
