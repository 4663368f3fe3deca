"""Load the released Wider ResNet weights (Wu, Shen, van den Hengel, arXiv:1611.10080).

Four checkpoint families, one engine: the authors' MXNet ``.params`` (read here without
MXNet), and the PyTorch ports of PSA (jiwoon-ahn/psa), MAP (mapillary/inplace_abn) and
NVIDIA (NVIDIA/semantic-segmentation). Each family is one rename table
(:mod:`.sources`); :func:`convert_state_dict` applies it strictly. Nothing here imports
model code: tests/converters ties the converted weights to ``WiderResNet``.

Command line: ``tools/model_converters/wrn2mm.py SRC DST [--src auto|mxnet|psa|mapillary|
nvidia]``. :mod:`.recorded` ties a converted checkpoint to the model: its tensors' shapes
when converting, its recorded backbone arguments when loading.
"""

from .convert import (
    Conversion,
    ConversionError,
    config_snippet,
    convert_state_dict,
    detect_format,
    expected_keys,
)
from .files import check_destination, convert_file, read_source, save_checkpoint, sniff
from .mxnet_params import MXNetFormatError, load_mxnet_params, read_mxnet_params
from .recorded import RecordedArgsError, check_converted_shapes, check_recorded_args
from .sources import SOURCES, Source

__all__ = [
    'load_mxnet_params',
    'read_mxnet_params',
    'MXNetFormatError',
    'SOURCES',
    'Source',
    'Conversion',
    'ConversionError',
    'convert_state_dict',
    'detect_format',
    'expected_keys',
    'config_snippet',
    'convert_file',
    'read_source',
    'save_checkpoint',
    'check_destination',
    'sniff',
    'check_recorded_args',
    'check_converted_shapes',
    'RecordedArgsError',
]
