"""wider_mm/converters/files.py directly: the one-line messages of failed reads and writes
(read in full), where the state dict of a loaded PyTorch object is found, and the order of
convert_file's checks (the command line's use of them is in test_wrn2mm_cli.py)."""

import errno
import pickle

import mxnet_writer as mw
import numpy as np
import pytest
import torch
import torch.nn as nn

from wider_mm.converters import ConversionError, files
from wider_mm.converters.sources import SOURCES


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
    state, where = files._unwrap({'state_dict': {}, 'model': {'w': t}}, 'e.pth')  # empty: next
    assert state == {'w': t} and where == "a checkpoint dict, tensors under 'model'"
    # MAP's segmentation snapshots: one state dict per part, joined with '.'
    parts = {'state_dict': {'body': {'mod1.conv1.weight': t}, 'cls': {'weight': t, 'bias': t}}}
    state, where = files._unwrap(parts, 'v.pth')
    assert state == {'body.mod1.conv1.weight': t, 'cls.weight': t, 'cls.bias': t}
    assert where == "a checkpoint dict, the state dicts of ['body', 'cls'] under 'state_dict'"


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


# --------------------------------------------------------------------------- read_source
def test_read_source_says_what_it_read(tmp_path):
    mx = tmp_path / 'm.params'
    mw.save(mx, {'arg:w': np.ones(2, np.float32)})
    state, container, where = files.read_source(str(mx))
    assert (list(state), container, where) == (
        ['arg:w'],
        'mxnet',
        'an MXNet NDArray list (.params)',
    )
    pth = tmp_path / 'p.pth'
    torch.save({'epoch': 3, 'state_dict': {'w': torch.ones(2)}}, pth)
    state, container, where = files.read_source(str(pth))
    assert (list(state), container, where) == (
        ['w'],
        'torch',
        "a PyTorch file, a checkpoint dict, tensors under 'state_dict'",
    )


def test_read_source_names_the_file_in_its_errors(tmp_path, monkeypatch):
    pth = tmp_path / 'list.pth'
    torch.save([torch.ones(1)], pth)
    with pytest.raises(ConversionError) as e:
        files.read_source(str(pth))
    assert str(e.value) == f'{pth}: expected a dict of tensors, got list'

    mx = tmp_path / 'm.params'
    mw.save(mx, {'arg:w': np.ones(2, np.float32)})

    def fails(path):  # the disk fails after the first bytes were read
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(files, 'load_mxnet_params', fails)
    with pytest.raises(ConversionError) as e:
        files.read_source(str(mx))
    assert str(e.value) == f'cannot read {mx}: Input/output error'


def _pickled(tmp_path):
    """A checkpoint that pickles an argparse.Namespace (what training scripts save)."""
    import argparse

    path = tmp_path / 'ns.pth'
    torch.save({'state_dict': {'w': torch.ones(2)}, 'args': argparse.Namespace(lr=0.1)}, path)
    return path


def _pickle_refused(path):
    return (
        f'{path}: the checkpoint pickles objects other than tensors and plain containers '
        "(['argparse.Namespace']), which torch refuses to load safely. If you trust the "
        'file, pass --allow-pickle'
    )


def test_pickles_are_refused_unless_allowed(tmp_path):
    path = _pickled(tmp_path)
    for read in (files.read_source, files.convert_file):
        with pytest.raises(ConversionError) as e:
            read(str(path))
        assert str(e.value) == _pickle_refused(path)
    assert list(files.read_source(str(path), allow_pickle=True)[0]) == ['w']


# --------------------------------------------------------------------------- check_destination
def test_dst_naming_a_folder_gets_a_file_name_in_it(tmp_path, monkeypatch):
    def refused(dst):
        with pytest.raises(ConversionError) as e:
            files.check_destination(dst)
        return str(e.value)

    new = f'{tmp_path / "new"}/'
    assert refused(new) == (
        f"DST {new!r} names a folder (it ends in '/'); give a file name, e.g. {new}wrn38.pth"
    )
    assert refused('') == 'DST is empty; give a file name, e.g. wrn38.pth'
    assert refused(str(tmp_path)) == (
        f'{tmp_path} is a directory; give a file name, e.g. {tmp_path}/wrn38.pth'
    )
    monkeypatch.setattr(files.os, 'altsep', '\\')  # as on Windows: '\' ends a folder too
    assert refused('new\\') == (
        "DST 'new\\\\' names a folder (it ends in '\\'); give a file name, e.g. new\\/wrn38.pth"
    )
    assert not (tmp_path / 'new').exists()


def test_an_existing_dst_needs_force(tmp_path):
    dst = tmp_path / 'w.pth'
    dst.write_bytes(b'old')
    with pytest.raises(ConversionError) as e:
        files.check_destination(str(dst))
    assert str(e.value) == f'{dst} already exists; pass --force to overwrite it'
    files.check_destination(str(dst), force=True)


@pytest.mark.parametrize('missing', ['W_OK', 'X_OK'])
def test_dst_folder_must_be_writable_and_searchable(tmp_path, monkeypatch, missing):
    """A folder the user may not write to, or not enter (answered as for a user other than
    root, which ignores the mode bits)."""
    import os

    bit = getattr(os, missing)
    real_access = os.access
    monkeypatch.setattr(
        files.os, 'access', lambda p, m: real_access(p, m) and not (p == str(tmp_path) and m & bit)
    )
    dst = tmp_path / 'a' / 'w.pth'  # the nearest existing folder is checked
    with pytest.raises(ConversionError) as e:
        files.check_destination(str(dst))
    assert str(e.value) == f'cannot write {dst}: {tmp_path} is not writable (Permission denied)'


# --------------------------------------------------------------------------- convert_file
def test_convert_file_checks_dst_before_reading_src(tmp_path):
    """The destination is refused before the source is read (here an empty file, which
    would fail to read): an existing DST without force, and SRC itself even with force;
    with force an existing DST passes and the source's error comes next."""
    src = tmp_path / 'empty.pth'
    src.write_bytes(b'')
    dst = tmp_path / 'w.pth'
    dst.write_bytes(b'old')
    cases = [
        (dict(dst_path=str(dst)), f'{dst} already exists; pass --force to overwrite it'),
        (
            dict(dst_path=str(src), force=True),
            f'DST {src} is SRC; write the conversion to another file',
        ),
        (dict(dst_path=str(src)), f'DST {src} is SRC; write the conversion to another file'),
        (dict(dst_path=str(dst), force=True), f'{src}: the file is empty'),
    ]
    for kwargs, want in cases:
        with pytest.raises(ConversionError) as e:
            files.convert_file(str(src), **kwargs)
        assert str(e.value) == want, kwargs
    assert dst.read_bytes() == b'old'


def test_convert_file_refuses_an_unknown_src():
    with pytest.raises(ConversionError) as e:
        files.convert_file('any.pth', src='caffe')
    assert str(e.value) == f"unknown --src 'caffe'; choose auto or one of {list(SOURCES)}"


def test_a_pytorch_file_is_never_read_as_mxnet(tmp_path):
    """MXNet names in a PyTorch file: neither detected as MXNet nor accepted with --src
    mxnet; the read is logged first."""
    path = tmp_path / 'p.pth'
    torch.save({'arg:conv1a_weight': torch.ones(1), 'arg:fc1_bias': torch.ones(1)}, path)
    lines = []
    torch_sources = [s for s in SOURCES if s != 'mxnet']
    with pytest.raises(ConversionError) as e:
        files.convert_file(str(path), log=lines.append)
    assert str(e.value).startswith(
        f'unrecognised checkpoint: none of the known namings ({", ".join(torch_sources)}) '
        "fits its keys (first keys: ['arg:conv1a_weight', 'arg:fc1_bias'])"
    )
    assert lines == [f'read {path}: a PyTorch file, a bare state dict, 2 arrays']
    with pytest.raises(ConversionError) as e:
        files.convert_file(str(path), src='mxnet')
    assert str(e.value) == (
        f'{path} is a PyTorch file, a bare state dict, which cannot be --src mxnet; '
        f'use one of {torch_sources} or auto'
    )


def test_an_mxnet_file_is_only_read_as_mxnet(tmp_path):
    path = tmp_path / 'm.params'
    mw.save(path, {'arg:w': np.ones(2, np.float32), 'aux:m': np.ones(2, np.float32)})
    lines = []
    with pytest.raises(ConversionError) as e:
        files.convert_file(str(path), src='psa', log=lines.append)
    assert str(e.value) == (
        f'{path} is an MXNet NDArray list (.params), which cannot be --src psa; '
        "use one of ['mxnet'] or auto"
    )
    assert lines == [f'read {path}: an MXNet NDArray list (.params), 2 arrays']


# --------------------------------------------------------------------------- sniff
def test_sniff_names_the_container_from_the_first_bytes(tmp_path, monkeypatch):
    """A zip (torch >= 1.6) or a pickle (older torch) is 'torch', 0x112 is 'mxnet'; only the
    first bytes are read (a checkpoint can take gigabytes)."""
    torch.save({'w': torch.ones(1)}, tmp_path / 'zip.pth')
    torch.save({'w': torch.ones(1)}, tmp_path / 'pickle.pth', _use_new_zipfile_serialization=False)
    mw.save(tmp_path / 'm.params', {'arg:w': np.ones(2, np.float32)})
    sizes = []
    real_open = open

    def recording_open(*args, **kwargs):
        f = real_open(*args, **kwargs)
        real_read = f.read
        f.read = lambda n=-1: sizes.append(n) or real_read(n)
        return f

    monkeypatch.setattr(files, 'open', recording_open, raising=False)
    kinds = [files.sniff(str(tmp_path / n)) for n in ('zip.pth', 'pickle.pth', 'm.params')]
    assert kinds == ['torch', 'torch', 'mxnet']
    assert len(sizes) == 3 and all(n is not None and 8 <= n <= 64 for n in sizes)


def test_sniff_shows_the_first_bytes_of_a_foreign_file(tmp_path):
    path = tmp_path / 'image.gif'
    path.write_bytes(b'GIF89a\x01\x00\x02\x00\x80')
    with pytest.raises(ConversionError) as e:
        files.sniff(str(path))
    assert str(e.value) == (
        f'{path}: unrecognised file (first bytes 47 49 46 38 39 61 01 00): neither an MXNet '
        '.params file (starts 12 01 00 00 00 00 00 00) nor a PyTorch checkpoint (a zip '
        "archive, 'PK', or a pickle, 0x80)"
    )


def test_convert_file_records_the_source_and_passes_the_arguments(tmp_path, monkeypatch):
    import hashlib

    from wrn_ports import PsaNet, randomize, wrap_torch

    path = tmp_path / 'psa.pth'
    torch.save(wrap_torch(randomize(PsaNet(div=16), 0), data_parallel=False), path)
    conv = files.convert_file(str(path), src='psa', output_stride=16)
    source = conv.meta['source']
    assert (source['file'], source['container']) == ('psa.pth', 'torch')
    assert source['sha256'] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert conv.meta['backbone']['output_stride'] == 16  # PSA's own is 8
    dst = tmp_path / 'old.pth'
    dst.write_bytes(b'old')
    files.convert_file(str(path), str(dst), src='psa', force=True)  # overwritten
    assert torch.load(dst, weights_only=True)['state_dict'].keys() == conv.state_dict.keys()

    def fails(p):  # the disk fails while hashing
        raise OSError(errno.EIO, 'Input/output error')

    monkeypatch.setattr(files, 'sha256', fails)
    with pytest.raises(ConversionError) as e:
        files.convert_file(str(path), src='psa')
    assert str(e.value) == f'cannot read {path}: Input/output error'
