"""One run per output directory at a time.

The lock is a file holding the owner's host and pid. A lock whose process is gone (a killed run) is taken
over; a live owner makes the second run stop with a clear message. Object stores have no atomic
create-if-absent through fsspec, so the check there is best effort.
"""

from __future__ import annotations

import json
import os
import posixpath
import socket
import time
from typing import Any

import fsspec


class OutputLocked(RuntimeError):
    pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class OutputLock:
    def __init__(self, out_url: str, storage_options: dict | None = None):
        self.fs, root = fsspec.core.url_to_fs(out_url, **(storage_options or {}))
        self.path = posixpath.join(root.rstrip("/"), ".lock")
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}

    def _holder(self) -> dict[str, Any] | None:
        try:
            with self.fs.open(self.path, "r") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return None
        except (ValueError, OSError):
            return {}  # a torn lock file: its writer died mid-write

    def _stale(self, holder: dict) -> bool:
        if not holder:
            return True
        if holder.get("host") == socket.gethostname():
            return not _alive(int(holder.get("pid", -1)))
        return False  # another machine: we cannot tell, so we do not steal

    def acquire(self) -> None:
        self.fs.makedirs(posixpath.dirname(self.path), exist_ok=True)
        body = json.dumps(self.owner)
        if "file" in (self.fs.protocol if isinstance(self.fs.protocol, tuple) else (self.fs.protocol,)):
            for _ in range(2):
                try:
                    fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
                except FileExistsError:
                    holder = self._holder()
                    if holder is not None and not self._stale(holder):
                        raise OutputLocked(self._message(holder)) from None
                    try:
                        os.unlink(self.path)  # left by a killed run
                    except FileNotFoundError:
                        pass
                    continue
                with os.fdopen(fd, "w") as fh:
                    fh.write(body)
                return
            raise OutputLocked(f"could not take {self.path}")
        holder = self._holder()
        if holder is not None and not self._stale(holder):
            raise OutputLocked(self._message(holder))
        with self.fs.open(self.path, "w") as fh:
            fh.write(body)

    def _message(self, holder: dict) -> str:
        return (
            f"another run (host {holder.get('host')}, pid {holder.get('pid')}) is writing to this output "
            f"directory; wait for it to finish or use another --out (lock: {self.path})"
        )

    def release(self) -> None:
        holder = self._holder()
        if holder and holder.get("pid") == self.owner["pid"] and holder.get("host") == self.owner["host"]:
            self.fs.rm(self.path)

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
