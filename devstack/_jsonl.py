"""Tiny append-only JSON-lines helpers shared by the mailbox and the SMS gateway."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """Yield every well-formed JSON object line of ``path`` (missing file → nothing).

    A crash can leave a truncated last line behind; such lines are skipped with a
    warning instead of making the whole store unreadable.
    """
    if not path.exists():
        return
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                log.warning("%s:%d: skipping malformed line", path, lineno)
                continue
            if isinstance(obj, dict):
                yield obj
            else:
                log.warning("%s:%d: skipping non-object line", path, lineno)


class JsonlAppender:
    """Append JSON objects to a file, one per line, flushed after every write.

    The file handle stays open because re-opening per record would dominate the cost
    when thousands of records arrive in a burst. We flush (not fsync): the goal is to
    survive a restart of the dev process, not a power cut.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[bytes] = path.open("ab")
        # If the previous process died mid-write the file may not end with a newline;
        # terminate that partial line so our first record is not glued onto it.
        if self._fh.tell() > 0:
            with path.open("rb") as check:
                check.seek(-1, 2)
                if check.read(1) != b"\n":
                    self._fh.write(b"\n")
                    self._fh.flush()

    def append(self, obj: dict[str, Any]) -> None:
        """Serialise ``obj`` as one line and flush it to the OS."""
        self._fh.write(json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the underlying file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()
