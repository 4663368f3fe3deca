"""Launch units: a missing dataset folder fails early with the folder, the config key and the
fix; ``--amp`` switches the optim wrapper or says why it cannot."""

import pytest
import torch
from mmengine.config import Config

from wider_mm.engine.config_checks import ConfigError
from wider_mm.engine.launch import check_data_roots, enable_amp


def _cfg(root_a: str, root_b: str) -> Config:
    ds = dict(type='PascalVOCDataset', data_root=root_a)
    return Config(
        dict(
            train_dataloader=dict(
                dataset=dict(type='ConcatDataset', datasets=[ds, dict(ds, data_root=root_b)])
            ),
            test_dataloader=dict(dataset=dict(ds, data_root=root_a)),
        )
    )


def test_missing_nested_dataset_folder_is_named_with_the_fix(tmp_path):
    cfg = _cfg(str(tmp_path), str(tmp_path / 'absent'))
    check_data_roots(cfg, ('test_dataloader',))  # its folder exists: no error
    with pytest.raises(ConfigError) as e:
        check_data_roots(cfg, ('train_dataloader',))
    msg = str(e.value)
    assert str(tmp_path / 'absent') in msg
    key = 'train_dataloader.dataset.datasets.1.data_root'
    assert f'--cfg-options {key}=' in msg
    cfg.merge_from_dict({key: str(tmp_path)})  # the suggested override works as written
    check_data_roots(cfg, ('train_dataloader',))


def test_amp_turns_on_mmengines_amp_wrapper(monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    assert enable_amp(cfg) == []
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper'
    assert cfg.optim_wrapper.loss_scale == 'dynamic'
    cfg.optim_wrapper.loss_scale = 512.0
    assert enable_amp(cfg) == ['AMP is already enabled in the config']
    assert cfg.optim_wrapper.loss_scale == 512.0
    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD'), loss_scale=8.0)))
    enable_amp(cfg)  # no type: mmengine's default OptimWrapper; a given scale is kept
    assert (cfg.optim_wrapper.type, cfg.optim_wrapper.loss_scale) == ('AmpOptimWrapper', 8.0)


def test_amp_refusals_name_the_fix(monkeypatch):
    cfg = Config(dict(optim_wrapper=dict(type='ApexOptimWrapper')))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    with pytest.raises(SystemExit, match='--amp needs a GPU.*drop --amp'):
        enable_amp(cfg)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    with pytest.raises(SystemExit, match='OptimWrapper; the config uses ApexOptimWrapper'):
        enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'ApexOptimWrapper'
