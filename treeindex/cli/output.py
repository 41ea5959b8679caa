"""Files the commands write (`search -o`, `show -o`): written beside under a temporary name
and renamed when complete, so that a stop or a full disk never leaves half a file under the
asked-for name; the temporary file goes on a stop, and one a killed run left behind is
removed by the next run. Every failure is one line naming the file and the fix."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from ..errors import TreeindexError

_TMP = ".tmp-"


def file_error(path: Path, e: OSError) -> TreeindexError:
    """One line for a file that cannot be written: what happened and what to do."""
    if e.errno == errno.ENOSPC or e.errno == errno.EDQUOT:
        fix = f"the disk holding {path.parent} is full: free space, then run again"
    elif e.errno == errno.ENOENT:
        fix = f"the folder {path.parent} does not exist: create it, or write elsewhere"
    elif e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "it may not be written here: write elsewhere"
    elif e.errno == errno.EISDIR:
        fix = "it is a folder: give a file name"
    else:
        fix = "write elsewhere"
    return TreeindexError(f"{path}: cannot be written ({e.strerror or e}); {fix}")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale(path: Path) -> None:
    """Remove temporary files of `path` that runs killed outright left behind."""
    try:
        candidates = list(path.parent.glob(path.name + _TMP + "*"))
    except OSError:
        return
    for tmp in candidates:
        pid = tmp.name.rsplit(_TMP, 1)[-1]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


@contextmanager
def written(path: Path, mode: str = "w") -> Iterator[IO]:
    """An open file that becomes `path` when the block ends without an error."""
    remove_stale(path)
    tmp = path.with_name(path.name + f"{_TMP}{os.getpid()}")
    try:
        try:
            f: IO = open(tmp, mode, encoding=None if "b" in mode else "utf-8")
        except OSError as e:
            raise file_error(path, e) from None
        try:
            yield f
            f.close()  # (what is still buffered is written here)
        except OSError as e:
            raise file_error(path, e) from None
        finally:
            if not f.closed:
                try:
                    f.close()
                except OSError:  # the disk is full: the error is raised already
                    pass
        try:
            os.replace(tmp, path)
        except OSError as e:
            raise file_error(path, e) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: Path, data: bytes) -> None:
    with written(path, "wb") as f:
        f.write(data)
