"""tools/leaderboard.py: the files it writes, and bad input as one line with exit code 2."""

from __future__ import annotations

from common import load_tool

from wider_mm.evaluation.record import write_record

leaderboard = load_tool('leaderboard')


def test_writes_the_three_files_and_prints_the_table(tmp_path, capsys):
    rec = dict(
        scope='mmseg',
        timestamp='1',
        dataset=dict(type='PascalVOCDataset', classes=[f'c{i}' for i in range(21)]),
        model=dict(type='WiderResNet', variant='a1'),
        protocol=dict(tta=False),
        metrics=dict(mIoU=70.0),
    )
    write_record(rec, str(tmp_path / 'run' / '1'))
    out = tmp_path / 'board'
    assert leaderboard.main([str(tmp_path / 'run'), '--out-dir', str(out), '--name', 'lb']) == 0
    printed = capsys.readouterr().out
    assert f'leaderboard written to {out}/lb.md, {out}/lb.csv and {out}/lb.png' in printed
    assert '| ours ' in printed and sorted(p.name for p in out.iterdir()) == [
        'lb.csv',
        'lb.md',
        'lb.png',
    ]


def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    assert leaderboard.main([str(tmp_path), '--out-dir', str(tmp_path / 'b')]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f'leaderboard.py: error: {tmp_path}: no metrics.json; run tools/test.py')
    assert err.count('\n') == 1
    write_record(dict(timestamp='1', metrics={}), str(tmp_path / 'fmt' / '1'))
    assert leaderboard.main([str(tmp_path / 'fmt'), '--out-dir', str(tmp_path / 'b')]) == 2
    assert 'hold no metrics (only --format-only runs?)' in capsys.readouterr().err
