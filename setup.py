"""Install wider_mm: Wider ResNet for the OpenMMLab stack.

Into an environment that already has torch, mmcv, mmsegmentation and/or mmpretrain:
``pip install -e .`` (pip keeps the installed versions when they satisfy the ranges below;
``pip install -e .[seg,cls]`` also installs the libraries if missing). ``make install``
builds the pinned stack from scratch instead (requirements.txt, tools/install.sh).
"""

import os.path as osp
import re

from setuptools import find_packages, setup


def version() -> str:
    """``__version__`` of wider_mm/version.py, read as text (importing wider_mm needs torch)."""
    with open(osp.join(osp.dirname(osp.abspath(__file__)), 'wider_mm', 'version.py')) as f:
        return re.search(r"__version__ = '([^']+)'", f.read()).group(1)


setup(
    name='wider_mm',
    version=version(),
    description='Wider ResNet (Wu, Shen, van den Hengel) for mmsegmentation and mmpretrain',
    license='Apache-2.0',
    packages=find_packages(include=['wider_mm', 'wider_mm.*']),
    package_data={'wider_mm.zoo': ['*.yml']},
    python_requires='>=3.9',
    # What the package imports itself; mmcv's compiled ops come with the full mmcv build
    # (mmseg needs it). Ranges, not pins: an existing OpenMMLab environment stays as it is.
    install_requires=['torch', 'numpy', 'Pillow', 'mmengine>=0.10.7,<1.0', 'mmcv>=2.0.0,<2.2.0'],
    extras_require={
        'seg': ['mmsegmentation>=1.2.2,<2.0'],
        'cls': ['mmpretrain>=1.2.0,<2.0'],
        'all': ['mmsegmentation>=1.2.2,<2.0', 'mmpretrain>=1.2.0,<2.0', 'tabulate'],
    },
)
