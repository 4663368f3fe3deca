"""tools/plot_curves.py: the curves' path and summary on stdout; a bad work dir exits 2."""

from __future__ import annotations

import json

from common import load_tool

plot_tool = load_tool('plot_curves')


def test_cli(tmp_path, capsys):
    d = tmp_path / 'run' / '20240101_000000' / 'vis_data'
    d.mkdir(parents=True)
    rows = [dict(step=1, lr=0.1, loss=2.0), dict(step=1, mIoU=12.5)]
    (d / 'scalars.json').write_text(''.join(json.dumps(r) + '\n' for r in rows))
    assert plot_tool.main([str(tmp_path / 'run'), '--out', str(tmp_path / 'c.png')]) == 0
    assert capsys.readouterr().out == (
        f'curves written to {tmp_path / "c.png"}: final loss 2.0000 (iter 1), '
        'best mIoU 12.50 (iter 1)\n'
    )
    assert plot_tool.main([str(tmp_path / 'run'), '--keys', 'mAP']) == 2
    assert plot_tool.main([str(tmp_path / 'none')]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(e.startswith('plot_curves.py: error: ') for e in err)
