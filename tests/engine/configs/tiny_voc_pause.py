"""tiny_voc_resume.py in a process that blocks inside one checkpoint write
(``pause_in_save``, on PYTHONPATH), so that the test can kill it there."""

_base_ = ['./tiny_voc_resume.py']

custom_imports = dict(
    imports=['wider_mm', 'wider_mm.evaluation', 'pause_in_save'], allow_failed_imports=False
)
