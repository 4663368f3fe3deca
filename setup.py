"""Install wider_mm: Wider ResNet for the OpenMMLab stack."""

from setuptools import find_packages, setup

setup(
    name='wider_mm',
    version='0.1.0',
    description='Wider ResNet (Wu, Shen, van den Hengel) for mmsegmentation and mmpretrain',
    packages=find_packages(include=['wider_mm', 'wider_mm.*']),
    package_data={'wider_mm.zoo': ['*.yml']},
    python_requires='>=3.9',
    install_requires=['torch', 'mmengine>=0.10.7'],
    extras_require={'full': ['mmcv==2.1.0', 'mmsegmentation==1.2.2', 'mmpretrain==1.2.0']},
)
