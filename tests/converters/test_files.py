"""wider_mm/converters/files.py, its helpers directly: the one-line messages of failed reads
and writes, and where the state dict of a loaded PyTorch object is found (the command
line's use of them is in test_wrn2mm_cli.py)."""

import errno
import pickle

import pytest
import torch
import torch.nn as nn

from wider_mm.converters import ConversionError, files


@pytest.mark.parametrize(
    'error,want',
    [
        (OSError(errno.EACCES, 'Permission denied'), 'cannot read x: Permission denied'),
        (OSError('the disk went away'), 'cannot read x: the disk went away'),
        (PermissionError(), 'cannot read x: PermissionError'),  # no reason at all
        (
            OSError(errno.ENOSPC, 'No space left on device'),
            'cannot read x: No space left on device (free some space, or choose another DST)',
        ),
        (
            OSError(errno.EFBIG, 'File too large'),
            'cannot read x: File too large (free some space, or choose another DST)',
        ),
    ],
)
def test_os_error_is_one_line_with_the_reason(error, want):
    assert str(files._os_error(error, 'read x')) == want


def test_first_line_of_an_error():
    assert files._first_line(ValueError('  first\nsecond')) == 'first'
    assert files._first_line(EOFError()) == 'EOFError'


def test_allow_pickle_failure_is_a_damaged_file_not_advice(monkeypatch, tmp_path):
    def unpickling_fails(path, allow_pickle):
        raise pickle.UnpicklingError('invalid load key')

    monkeypatch.setattr(files, '_torch_load_safely', unpickling_fails)
    monkeypatch.setattr(files, '_unsafe_globals', lambda path: ['argparse.Namespace'])
    with pytest.raises(ConversionError) as e:
        files._torch_load_or_explain('x.pth', allow_pickle=True)
    assert str(e.value) == 'x.pth: not a readable PyTorch checkpoint (invalid load key)'
    with pytest.raises(ConversionError, match=r"\['argparse.Namespace'\].*--allow-pickle"):
        files._torch_load_or_explain('x.pth', allow_pickle=False)


def test_where_the_state_dict_is_found():
    t = torch.zeros(1)
    module = nn.Linear(2, 1)
    state, where = files._unwrap(module, 'm.pth')
    assert where == 'a pickled nn.Module' and set(state) == {'weight', 'bias'}
    assert files._unwrap({'w': t}, 'b.pth') == ({'w': t}, 'a bare state dict')
    state, where = files._unwrap({'epoch': 3, 'model': {'w': t}}, 'c.pth')
    assert state == {'w': t} and where == "a checkpoint dict, tensors under 'model'"


@pytest.mark.parametrize(
    'obj,want',
    [
        ([torch.zeros(1)], 'p.pth: expected a dict of tensors, got list'),
        (
            {'model': 'wrn38', 'w': torch.zeros(1)},  # some tensors, and a name
            "p.pth: no state dict found (top-level keys: ['model', 'w']); expected a dict of "
            "tensors, or one nested under ['state_dict', 'model', 'model_state_dict', 'net']",
        ),
        (
            {f'k{i}': i for i in range(12)},  # the first 10 keys are shown
            'p.pth: no state dict found (top-level keys: '
            f'{[f"k{i}" for i in range(10)]}); expected',
        ),
        (
            {i: torch.zeros(1) for i in range(5)},
            'p.pth: state dict keys must be strings, got [0, 1, 2]',
        ),
    ],
)
def test_what_is_not_a_state_dict(obj, want):
    with pytest.raises(ConversionError) as e:
        files._unwrap(obj, 'p.pth')
    assert str(e.value).startswith(want)
    assert str(e.value) == want or want.endswith('expected')


def test_unpickling_messages_in_full(monkeypatch):
    def fails(error):
        def load(path, allow_pickle):
            raise error

        return load

    needed = [f'pkg.Class{i}' for i in range(6)]
    monkeypatch.setattr(files, '_unsafe_globals', lambda path: needed)
    monkeypatch.setattr(files, '_torch_load_safely', fails(pickle.UnpicklingError('no')))
    with pytest.raises(ConversionError) as e:
        files._torch_load_or_explain('x.pth', allow_pickle=False)
    assert str(e.value) == (
        'x.pth: the checkpoint pickles objects other than tensors and plain containers '
        f'({needed[:5]}), which torch refuses to load safely. If you trust the file, pass '
        '--allow-pickle'
    )
    monkeypatch.setattr(files, '_torch_load_safely', fails(RuntimeError('bad zip\nmore')))
    with pytest.raises(ConversionError) as e:
        files._torch_load_or_explain('x.pth', allow_pickle=False)
    assert str(e.value) == (
        'x.pth: not a readable PyTorch checkpoint (RuntimeError: bad zip); is the file '
        'complete (an interrupted download?)'
    )


def test_checkpoints_are_loaded_onto_the_cpu(monkeypatch, tmp_path):
    """A checkpoint saved from GPU tensors must load where there is no GPU."""
    seen = {}
    real_load = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real_load(*args, **kwargs)

    torch.save({'w': torch.zeros(1)}, tmp_path / 'w.pth')
    monkeypatch.setattr(torch, 'load', spy)
    assert files._torch_load_safely(str(tmp_path / 'w.pth'), False)['w'].shape == (1,)
    assert seen == dict(map_location='cpu', weights_only=True)
