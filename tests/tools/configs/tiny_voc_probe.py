"""tiny_voc.py plus the test's ResumeProbeHook (registered by tests/tools/test_train_test.py)."""

_base_ = ['./tiny_voc.py']
custom_hooks = [dict(type='ResumeProbeHook', priority='VERY_LOW')]
