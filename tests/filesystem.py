"""Files a process cannot write, for the tests of the database pre-flight check."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a file or a directory) read-only for this process, root included.

    Root ignores permission bits but not the immutable attribute (CAP_LINUX_IMMUTABLE), so as
    root the test sets that too; either way, nothing can write there until the block ends.
    """
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    immutable = os.geteuid() == 0
    if immutable:
        subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)
