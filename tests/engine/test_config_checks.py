"""Config mistakes that mmengine would ignore or report late fail early, naming the fix."""

import os
import socket
import subprocess
from pathlib import Path

import pytest
from mmengine.config import Config

from wider_mm.engine.config_checks import (
    ConfigError,
    check_cfg_options,
    check_hook_args,
    walk_dicts,
)
from wider_mm.engine.launch import load_config, register_scope

ROOT = Path(__file__).resolve().parents[2]
TINY_VOC = ROOT / 'tests' / 'tools' / 'configs' / 'tiny_voc.py'


def _cfg() -> Config:
    return Config(
        dict(
            train_cfg=dict(type='IterBasedTrainLoop', max_iters=4, val_interval=2),
            model=dict(backbone=dict(type='WiderResNet', depth=38), decode_head=[dict(a=1)]),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2)),
        )
    )


def test_cfg_options_that_nothing_reads_are_refused():
    cfg = _cfg()
    check_cfg_options(cfg, {'train_cfg.max_iters': 8, 'work_dir': '/tmp/x'})  # known keys
    with pytest.raises(ConfigError, match="no key 'max_iter'.*did you mean 'max_iters'"):
        check_cfg_options(cfg, {'train_cfg.max_iter': 8})
    with pytest.raises(ConfigError, match="the config has no key 'wrok_dir'.*'work_dir'"):
        check_cfg_options(cfg, {'wrok_dir': '/tmp/x'})
    with pytest.raises(ConfigError, match='has 1 items, so index 3 does not exist'):
        check_cfg_options(cfg, {'model.decode_head.3.a': 2})
    check_cfg_options(cfg, {'model.decode_head.0.a': 2})


def test_cfg_options_adding_a_new_argument_is_noted():
    notes = check_cfg_options(_cfg(), {'model.backbone.with_cp': True, 'train_cfg.max_iters': 2})
    assert notes == [
        "--cfg-options model.backbone.with_cp adds 'with_cp' to model.backbone "
        '(not in the config)'
    ]


def test_hook_argument_typos_fail_before_training():
    register_scope('mmseg')
    cfg = _cfg()
    cfg.default_scope = 'mmseg'
    cfg.default_hooks.visualization = dict(type='SegVisualizationHook', draw=True)
    check_hook_args(cfg)
    cfg.default_hooks.checkpoint.max_keep_ckpts = 1
    check_hook_args(cfg)
    # CheckpointHook passes unknown arguments to Runner.save_checkpoint: those are allowed
    cfg.default_hooks.checkpoint.meta = dict(a=1)
    check_hook_args(cfg)
    cfg.merge_from_dict({'default_hooks.checkpoint.intervl': 1})
    with pytest.raises(ConfigError, match=r"checkpoint.intervl: .*did you mean 'interval'"):
        check_hook_args(cfg)
    bad = _cfg()
    bad.custom_hooks = [dict(type='EMAHok')]
    with pytest.raises(ConfigError, match=r"custom_hooks.0: unknown hook type 'EMAHok'"):
        check_hook_args(bad)


def test_config_with_a_syntax_error_names_its_file(tmp_path):
    base = tmp_path / 'base_broken.py'
    base.write_text('crop_size = (64, 64\n')
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{base}']\n")
    for path in (base, child):
        with pytest.raises(ConfigError, match=f'{base}.*syntax error') as e:
            load_config(str(path), None, 'none')
        assert '\n' not in str(e.value)


def test_train_tool_prints_one_line_not_a_traceback(tmp_path):
    out = subprocess.run(
        [
            str(ROOT / '.venv' / 'bin' / 'python'),
            str(ROOT / 'tools' / 'train.py'),
            str(TINY_VOC),
            '--cfg-options',
            'train_cfg.max_iter=2',
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 2
    assert 'Traceback' not in out.stderr
    assert "no key 'max_iter'" in out.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize('script,n', [('dist_train.sh', 1), ('dist_test.sh', 2)])
def test_dist_scripts_refuse_bad_gpus_and_a_busy_port(script, n, tmp_path):
    tool = str(ROOT / 'tools' / script)
    for gpus in ('0', 'two', '-1'):
        out = subprocess.run([tool, *['x'] * n, gpus], capture_output=True, text=True)
        assert out.returncode == 2 and f"GPUS is '{gpus}'" in out.stderr
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        s.listen()
        port = s.getsockname()[1]
        env = dict(os.environ, PORT=str(port))
        out = subprocess.run([tool, *['x'] * n, '2'], capture_output=True, text=True, env=env)
    assert out.returncode == 2
    assert f'port {port} on 127.0.0.1 is already in use' in out.stderr
    assert f'PORT={port + 1}' in out.stderr


def test_walk_dicts_visits_every_dict_with_its_cfg_options_path():
    cfg = Config(
        dict(
            model=dict(
                type='EncoderDecoder',
                auxiliary_head=[dict(type='FCNHead'), dict(type='FCNHead', x=(dict(a=1),))],
            ),
            tta=[[dict(type='Resize')]],
        )
    )
    seen = {path: d.get('type') for path, d in walk_dicts(cfg._cfg_dict.to_dict())}
    assert seen == {
        '<root>': None,
        'model': 'EncoderDecoder',
        'model.auxiliary_head.0': 'FCNHead',
        'model.auxiliary_head.1': 'FCNHead',
        'model.auxiliary_head.1.x.0': None,
        'tta.0.0': 'Resize',
    }
    # a dict is yielded before its children: replacing a value redirects the walk
    tree = dict(a=dict(init_cfg=dict(type='Pretrained')))
    paths = []
    for path, d in walk_dicts(tree):
        paths.append(path)
        if 'init_cfg' in d:
            d['init_cfg'] = None
    assert paths == ['<root>', 'a'] and tree == dict(a=dict(init_cfg=None))
