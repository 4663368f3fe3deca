"""tiny_voc.py plus a hook saving each process's BN statistics (tests/tools/configs on
PYTHONPATH)."""

_base_ = ['./tiny_voc.py']
custom_imports = dict(
    imports=['wider_mm', 'wider_mm.evaluation', 'wider_test_hooks'], allow_failed_imports=False
)
custom_hooks = [dict(type='DumpBNStatsHook')]
