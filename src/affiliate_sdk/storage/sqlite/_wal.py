"""Passive WAL checkpoints on a thread of their own, so no request pays for one."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from contextlib import suppress
from typing import Final

__all__ = ["BACKSTOP_PAGES", "WAL_CHECKPOINT_EVERY", "WalCheckpointer"]

#: Commits between two background WAL checkpoints.
WAL_CHECKPOINT_EVERY: Final = 200
#: WAL pages at which a committing connection checkpoints by itself (a backstop
#: should the checkpoint thread fall behind).
BACKSTOP_PAGES: Final = 16384


class WalCheckpointer:
    """Copies committed WAL pages back into the database file when asked to.

    A passive checkpoint never waits for readers or writers; what it cannot
    copy yet is copied by the next one.
    """

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, name: str) -> None:
        self._connect = connect
        #: Held while this thread is inside SQLite (see ``ClickWriter.guard``).
        self.guard = threading.Lock()
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def request(self) -> None:
        """Ask for a checkpoint (returns at once)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop the thread, waiting for a checkpoint in progress."""
        self._stopping = True
        self._wake.set()
        self._thread.join()

    def _run(self) -> None:
        with self.guard:
            conn = self._connect()
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                # the next request, or the backstop, retries a failed checkpoint
                with self.guard, suppress(sqlite3.Error):
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        finally:
            conn.close()
