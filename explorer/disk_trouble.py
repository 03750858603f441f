"""When the runs folder's disk refuses a write: one line that names the file and says what to do.

Also the last way to record a run's end on a full disk: rewriting its small status file in the space it
already holds, where an atomic write's temporary copy finds none.
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

# errno values that can only mean a disk refused a write, whichever call met them.
REFUSALS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
# A run writes its checkpoint (G, D and both optimisers: 6.6 MB) beside the previous one each epoch.
LOW_SPACE = 8 * 2**20
_FULL = "free space on that disk or set GAN_EXPLORER_RUNS to a folder on another one"
_NOT_ALLOWED = "let the server's user write there or set GAN_EXPLORER_RUNS to another folder"
_ADVICE = {
    errno.ENOSPC: _FULL,
    errno.EDQUOT: "free space within the server user's quota or set GAN_EXPLORER_RUNS to another folder",
    errno.EROFS: "set GAN_EXPLORER_RUNS to a folder on a writable disk",
    errno.EACCES: _NOT_ALLOWED,
    errno.EPERM: _NOT_ALLOWED,
}
_OTHER = "check that disk or set GAN_EXPLORER_RUNS to another folder"


def write_error(e: OSError, path: str | os.PathLike | None = None) -> str:
    """'cannot write FILE: no space left on device; free space ...' for an OSError met writing a run's files."""
    reason = e.strerror or str(e)
    return f"cannot write {e.filename or path}: {reason[:1].lower()}{reason[1:]}; {_ADVICE.get(e.errno, _OTHER)}"


def trouble(path: str | os.PathLike) -> str | None:
    """Why the disk holding path cannot take a run's files (read-only, or under LOW_SPACE free); None if it can."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    if st.f_flag & os.ST_RDONLY:
        return f"{path} is on a read-only file system: {_ADVICE[errno.EROFS]}"
    free = st.f_bavail * st.f_frsize
    if free < LOW_SPACE:
        return f"the disk holding {path} has {free / 2**20:.1f} MB free: {_FULL}"
    return None


def overwrite_in_place(path: Path, text: str) -> None:
    """Rewrite a small existing file within the blocks it holds; a reader may catch it half written."""
    data = text.encode("utf-8")
    with open(path, "r+b") as f:
        if len(data) > os.fstat(f.fileno()).st_blocks * 512:   # it would need a block the disk may not have
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        f.write(data)
        f.truncate()
