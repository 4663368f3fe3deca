"""A missing dataset folder fails early with the folder, the config key and the fix."""

import pytest
from mmengine.config import Config

from wider_mm.engine.config_checks import ConfigError
from wider_mm.engine.launch import check_data_roots


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
