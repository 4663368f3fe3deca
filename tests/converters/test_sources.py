"""wider_mm/converters/sources.py: the rule builder of the PyTorch ports, called here
directly (the SOURCES tables call it once, when the module is imported)."""

import re

import pytest

from wider_mm.converters.sources import _torch_unit_rules


def rules():
    """Built in the test (not at import), so that what is tested is the call itself."""
    return _torch_unit_rules(
        unit=r'm(?P<b>[2-7])\.u(?P<u>\d+)',
        norm=('n1', r'c\.n2', r'c\.n3'),
        conv=r'c\.k(?P<i>[123])',
        shortcut='proj',
        norm_out='last',
    )


def target(key):
    """The first rule that matches ``key`` entirely, filled in (as the engine does)."""
    for pattern, template in rules():
        m = re.fullmatch(pattern, key)
        if m:
            return template.format(**m.groupdict())
    return None


@pytest.mark.parametrize(
    'key,want',
    [
        ('m2.u1.n1.weight', 'block2.unit1.norm1.weight'),
        ('m3.u2.c.n2.bias', 'block3.unit2.norm2.bias'),
        ('m7.u1.c.n3.running_mean', 'block7.unit1.norm3.running_mean'),
        ('m4.u6.n1.running_var', 'block4.unit6.norm1.running_var'),
        ('m5.u3.c.n2.num_batches_tracked', 'block5.unit3.norm2.num_batches_tracked'),
        ('m6.u1.c.k3.weight', 'block6.unit1.conv3.weight'),
        ('m2.u12.proj.weight', 'block2.unit12.shortcut.weight'),
        ('last.running_var', 'norm_out.running_var'),
        ('last.bias', 'norm_out.bias'),
    ],
)
def test_torch_unit_rules_rename(key, want):
    assert target(key) == want


@pytest.mark.parametrize(
    'key',
    [
        'm2.u1.n1.scale',  # not a BN parameter
        'm2.u1.c.k2.bias',  # convs are bias-free
        'm2.u1.proj.bias',
        'm8.u1.n1.weight',  # no block 8
        'x.m2.u1.n1.weight',  # whole keys only
        'm2.u1.n4.weight',
        'last.weight.extra',
    ],
)
def test_torch_unit_rules_refuse_other_keys(key):
    assert target(key) is None


def test_torch_unit_rules_one_rule_per_layer_kind():
    # 3 norms, the convs, the shortcut, the final norm, in this order
    assert [t for _, t in rules()] == [
        'block{b}.unit{u}.norm1.{p}',
        'block{b}.unit{u}.norm2.{p}',
        'block{b}.unit{u}.norm3.{p}',
        'block{b}.unit{u}.conv{i}.weight',
        'block{b}.unit{u}.shortcut.weight',
        'norm_out.{p}',
    ]
