"""`import wider_mm` registers the same classes in mmseg's and mmpretrain's registries."""

import subprocess
import sys

from mmpretrain.registry import MODELS as PRETRAIN_MODELS
from mmseg.registry import MODELS as SEG_MODELS

import wider_mm
from wider_mm import WiderResNet


def test_registered_in_both_registries():
    assert wider_mm.registered == ['mmseg', 'mmpretrain']
    assert SEG_MODELS.get('WiderResNet') is WiderResNet
    assert PRETRAIN_MODELS.get('WiderResNet') is WiderResNet
    assert SEG_MODELS.get('WiderHead') is not None
    assert SEG_MODELS.get('WiderEncoderDecoder') is not None
    m = PRETRAIN_MODELS.build(dict(type='WiderResNet', depth=16, widen_factor=0.0625))
    assert isinstance(m, WiderResNet)


def test_backbone_module_imports_without_mmseg():
    """The backbones folder needs only torch, mmengine and mmcv's pure-Python parts.

    Loaded as a package of its own (not as ``wider_mm``), the way it is carried alone.
    """
    code = (
        'import os, sys, importlib.util\n'
        "for name in ('mmseg', 'mmpretrain', 'mmcv.ops', 'mmcv._ext', 'wider_mm'):\n"
        '    sys.modules[name] = None  # any import of these now fails\n'
        'folder = os.path.dirname(sys.argv[1])\n'
        "spec = importlib.util.spec_from_file_location('wrn', os.path.join(folder, "
        "'__init__.py'), submodule_search_locations=[folder])\n"
        "pkg = importlib.util.module_from_spec(spec); sys.modules['wrn'] = pkg\n"
        'spec.loader.exec_module(pkg); mod = pkg.wider_resnet\n'
        'import torch\n'
        'm = mod.WiderResNet(depth=16, widen_factor=0.0625, output_stride=8).eval()\n'
        'print(tuple(m(torch.rand(1, 3, 32, 32))[0].shape))\n'
    )
    path = wider_mm.models.backbones.wider_resnet.__file__
    out = subprocess.run(
        [sys.executable, '-c', code, path], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == '(1, 256, 4, 4)'


def test_missing_library_is_a_clear_message_not_a_crash():
    code = (
        'import sys, warnings\n'
        "sys.modules['mmpretrain'] = None  # as if mmpretrain were not installed\n"
        'with warnings.catch_warnings(record=True) as w:\n'
        "    warnings.simplefilter('always')\n"
        '    import wider_mm\n'
        'msgs = [str(x.message) for x in w]\n'
        "print(wider_mm.registered, [m for m in msgs if 'mmpretrain' in m])\n"
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert "['mmseg']" in out.stdout
    assert 'mmpretrain cannot be imported' in out.stdout and 'make install' in out.stdout
