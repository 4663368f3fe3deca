"""``build_runner`` runs the channel check on every mmseg model it builds (plain
``EncoderDecoder`` included): a wrong ``in_channels`` is a one-line ``ConfigError``."""

import pytest
from mmengine.config import Config

from wider_mm.engine.config_checks import ConfigError
from wider_mm.engine.launch import build_runner, register_scope


def _cfg(tmp_path, in_channels: int) -> Config:
    return Config(
        dict(
            default_scope='mmseg',
            work_dir=str(tmp_path),
            model=dict(
                type='EncoderDecoder',
                data_preprocessor=dict(type='SegDataPreProcessor'),
                backbone=dict(
                    type='WiderResNet',
                    depth=16,
                    widen_factor=1 / 32,
                    output_stride=8,
                    out_indices=(6,),
                ),
                decode_head=dict(
                    type='FCNHead', in_channels=in_channels, channels=4, num_classes=2
                ),
            ),
        )
    )


def test_build_runner_checks_the_model(tmp_path):
    register_scope('mmseg')
    runner = build_runner(_cfg(tmp_path, 128))
    assert runner.model.decode_head.in_channels == 128
    with pytest.raises(ConfigError) as e:
        build_runner(_cfg(tmp_path, 4096))
    assert str(e.value) == (
        'EncoderDecoder: decode_head (FCNHead) has in_channels=4096 but the backbone '
        '(WiderResNet) emits (128,) channels at out_indices=(6,), so in_index=-1 receives '
        '128; set decode_head.in_channels=128'
    )
