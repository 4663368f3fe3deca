"""atomic_write: the old file or the new one, whole; no temporary left behind."""

import pytest

from wider_mm.fileio import atomic_write


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path, tmp = tmp_path / 'ckpt.pth', tmp_path / 'ckpt.pth.tmp'
    path.write_bytes(b'old')
    with pytest.raises(RuntimeError):
        with atomic_write(str(path), str(tmp)) as f:
            f.write(b'half of the new')
            raise RuntimeError('killed')
    assert path.read_bytes() == b'old' and not tmp.exists()
    with atomic_write(str(path), str(tmp)) as f:
        f.write(b'new')
        assert path.read_bytes() == b'old'  # not visible before the block ends
    assert path.read_bytes() == b'new' and not tmp.exists()
