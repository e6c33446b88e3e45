"""Files written through core/fileio.py honour the umask (atomic writes start from a private temp file)."""

from __future__ import annotations

import os
import stat

import pytest

from gsnr_bench.core.fileio import write_text


# ------------------------------------------------------------------ 10. files honour the umask
@pytest.mark.parametrize("mask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_honour_the_umask(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        write_text(tmp_path / "f.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f.txt").stat().st_mode) == mode
