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


def test_numpy_scalars_are_loaded_safely_onto_the_cpu(monkeypatch, tmp_path):
    """The second, numpy-allowing load is still weights_only, and on the CPU."""
    import numpy as np

    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    torch.save({'w': torch.zeros(1), 'best_prec1': np.float64(79.7)}, tmp_path / 'np.pth')
    monkeypatch.setattr(torch, 'load', spy)
    obj = files._torch_load_safely(str(tmp_path / 'np.pth'), False)
    assert obj['best_prec1'] == 79.7 and len(calls) == 2
    assert all(c == dict(map_location='cpu', weights_only=True) for c in calls)


def _conversion():
    from wider_mm.converters import Conversion

    return Conversion({'w': torch.zeros(1)}, dict(task='backbone'))


def test_save_writes_a_temporary_beside_dst_with_the_usual_mode(monkeypatch, tmp_path):
    import os

    seen = []
    real_write = files._write

    def spy(obj, f):
        seen.extend(os.listdir(tmp_path / 'out'))
        real_write(obj, f)

    monkeypatch.setattr(files, '_write', spy)
    old = os.umask(0o022)
    try:
        files.save_checkpoint(_conversion(), str(tmp_path / 'out' / 'w.pth'))
    finally:
        os.umask(old)
    assert len(seen) == 1 and seen[0].startswith('.wrn2mm-') and seen[0].endswith('.tmp')
    assert os.listdir(tmp_path / 'out') == ['w.pth']
    assert (tmp_path / 'out' / 'w.pth').stat().st_mode & 0o777 == 0o644


def test_save_does_not_overwrite_unless_forced(tmp_path):
    dst = tmp_path / 'w.pth'
    dst.write_bytes(b'old')
    with pytest.raises(ConversionError, match='already exists; pass --force'):
        files.save_checkpoint(_conversion(), str(dst))
    assert dst.read_bytes() == b'old'
    files.save_checkpoint(_conversion(), str(dst), force=True)
    assert torch.load(dst, weights_only=True)['state_dict']['w'].shape == (1,)


def test_a_dst_that_appears_while_writing_is_kept(monkeypatch, tmp_path):
    dst = tmp_path / 'w.pth'
    real_write = files._write

    def racer(obj, f):  # another process writes dst meanwhile
        dst.write_bytes(b'theirs')
        real_write(obj, f)

    monkeypatch.setattr(files, '_write', racer)
    with pytest.raises(ConversionError) as e:
        files.save_checkpoint(_conversion(), str(dst))
    assert str(e.value) == f'{dst} already exists; pass --force to overwrite it'
    assert dst.read_bytes() == b'theirs' and sorted(p.name for p in tmp_path.iterdir()) == ['w.pth']


def test_a_folder_that_cannot_be_fsynced_is_fine(monkeypatch, tmp_path):
    import os

    real_open = os.open

    def no_dir_open(path, flags, *args, **kwargs):  # as on file systems that refuse it
        if os.path.isdir(path):
            raise OSError(errno.EINVAL, 'Invalid argument')
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(files.os, 'open', no_dir_open)
    files.save_checkpoint(_conversion(), str(tmp_path / 'w.pth'))
    assert (tmp_path / 'w.pth').is_file()


def test_sha256_of_a_file_larger_than_a_chunk(tmp_path):
    import hashlib

    data = bytes(range(256)) * 5000  # 1.28 MB: more than one 1 MiB chunk
    (tmp_path / 'f').write_bytes(data)
    assert files.sha256(str(tmp_path / 'f')) == hashlib.sha256(data).hexdigest()
