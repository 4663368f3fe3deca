"""wider_mm/analysis/curves.py: mmengine's scalars.json read back (resumes joined), drawn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from wider_mm.analysis.curves import plot_curves, read_scalars, summary


def _log(work: Path, stamp: str, rows: list) -> None:
    d = work / stamp / 'vis_data'
    d.mkdir(parents=True)
    (d / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in rows))


def _train(step: int, loss: float) -> dict:
    return dict(step=step, lr=0.01, loss=loss, decode_head_loss=loss / 2, time=0.5)


@pytest.fixture
def work(tmp_path) -> Path:
    """A run of 4 iterations (validation at 2 and 4), resumed from iteration 2."""
    _log(
        tmp_path,
        '20240101_000000',
        [_train(s, 1.0 / s) for s in (1, 2, 3)] + [dict(step=2, mIoU=10.0, aAcc=50.0)],
    )
    _log(
        tmp_path,
        '20240102_000000',
        [_train(s, 0.9 / s) for s in (3, 4)] + [dict(step=4, mIoU=30.0, aAcc=60.0), {'no step': 1}],
    )
    return tmp_path


def test_resumed_run_takes_over_from_its_first_step(work):
    train, val = read_scalars(str(work))
    assert train['loss'] == [(1, 1.0), (2, 0.5), (3, 0.3), (4, 0.225)]
    assert [s for s, _ in train['lr']] == [1, 2, 3, 4]
    assert val == {'mIoU': [(2, 10.0), (4, 30.0)], 'aAcc': [(2, 50.0), (4, 60.0)]}


def test_summary_names_the_final_loss_and_the_best_metric(work):
    assert summary(*read_scalars(str(work))) == (
        'final loss 0.2250 (iter 4), best mIoU 30.00 (iter 4)'
    )
    assert summary({}, {'accuracy/top1': [(1, 70.0), (2, 60.0)]}) == (
        'best accuracy/top1 70.00 (iter 1)'
    )
    assert summary({}, {}) == ''


def test_plot_writes_a_png(work, tmp_path):
    out = plot_curves(str(work))
    assert out == str(work / 'curves.png') and Image.open(out).size[0] > 100
    one = plot_curves(str(work), str(tmp_path / 'one.png'), keys=['mIoU'])
    assert Image.open(one).size[0] < Image.open(out).size[0]  # one panel, not three


def test_errors_name_the_problem(work, tmp_path):
    with pytest.raises(FileNotFoundError, match='no \\*/vis_data/scalars.json'):
        read_scalars(str(tmp_path / 'empty'))
    with pytest.raises(KeyError, match=r"no scalars \['mAP'\]"):
        plot_curves(str(work), keys=['mAP'])
