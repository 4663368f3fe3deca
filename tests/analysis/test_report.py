"""wider_mm.analysis.report: machine description, markdown table, the three outputs."""

import json

from wider_mm.analysis import report


def test_machine_has_collect_env_and_the_cpu():
    info = report.machine('cpu')
    assert {'PyTorch', 'MMEngine', 'cpu', 'cores', 'threads', 'device', 'date'} <= set(info)
    assert info['cpu'] == report.cpu_model() and info['cpu']
    line = report.machine_line(info)
    assert f'{info["cores"]}-core' in line and info['cpu'] in line


def test_table_and_outputs(tmp_path):
    rows = [
        dict(model='a', variant='base', train_step_s=1.0, train_img_s=2.0, train_peak_mb=10.0,
             train_step_mb=4.0, x=1234567),
        dict(model='b', variant='with_cp', train_step_s=2.0, train_img_s=1.0, train_peak_mb=None,
             train_step_mb=None, x=None),
    ]  # fmt: skip
    cols = [report.Column('model', 'model'), report.Column('n', 'x', ','),
            report.Column('peak', 'train_peak_mb', '.1f')]  # fmt: skip
    table = report.markdown_table(rows, cols).splitlines()
    assert [c.strip() for c in table[0].strip('|').split('|')] == ['model', 'n', 'peak']
    assert [c.strip() for c in table[3].strip('|').split('|')] == ['b', '-', '-']
    assert '1,234,567' in table[2] and '10.0' in table[2]
    result = dict(machine=report.machine('cpu'), rows=rows)
    paths = report.write_report(result, str(tmp_path), 'r', cols, 'Input 8x8.', ['- n'], True)
    assert [p.rsplit('.', 1)[1] for p in paths] == ['json', 'md', 'png']
    with open(paths[0]) as f:
        assert json.load(f)['rows'] == rows
    with open(paths[1]) as f:
        md = f.read()
    assert md == result['markdown'] and md.startswith('Measured on a ') and md.endswith('- n\n')
    with open(paths[2], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert report.existing_outputs(str(tmp_path), 'r') == ['r.json', 'r.md', 'r.png']
