"""The background click writer: queued clicks committed in batches on a thread of their own.

``track_click`` returns once its click is queued. The writer commits what is queued at most
every ``batch_every_s`` (0.1 s by default; at once when the last batch began longer ago, or
when the queue is half full). This process sees queued clicks at once (``queued()``), other
processes once they are committed. ``stop()`` writes out the queue without waiting.
A crash loses only the clicks still queued.

``call`` runs other background writes of this file (the velocity counters' exchange) on the
same thread, inside its next batch's transaction: this process's writes then never wait on
each other for SQLite's lock (whose busy handler sleeps from 1 to 100 ms at a time).

Why not commit continuously: the thread needs the interpreter lock back after every call
into SQLite, and while the clicks keep the lock busy, it gets it only by forcing a hand-over
(after ``sys.getswitchinterval()``, 5 ms); each forced hand-over stalls whichever click is
running. A writer that is always busy forces one every 5 ms; one that gathers clicks for
0.1 s and then writes them forces a few per batch.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from typing import Final, Generic, TypeVar

from affiliate_sdk.errors import StorageError
from affiliate_sdk.storage.held import AT, HeldClick, held
from affiliate_sdk.storage.rows import ClickRow

from ._dialect import BEGIN_WRITE, insert_rows
from ._recent import LinkVisit, RecentClicks

__all__ = ["BATCH_EVERY_S", "MAX_QUEUED_CLICKS", "REGISTER_WRITER", "ClickWriter"]

#: Records, with a writer's clicks, the time of the latest click it has written.
REGISTER_WRITER: Final = (
    "INSERT INTO click_writers (token, last_ms) VALUES (?, ?) "
    "ON CONFLICT (token) DO UPDATE SET last_ms = max(last_ms, excluded.last_ms)"
)
_OTHERS: Final = "SELECT max(last_ms) FROM click_writers WHERE token != ?"
#: Writers silent this long before a click are forgotten (with a writer's first batch).
FORGET_WRITERS_AFTER_MS: Final = 400 * 86_400_000
_FORGET: Final = "DELETE FROM click_writers WHERE token != ? AND last_ms < ?"

#: Clicks queued for the background writer before a submitter waits for it.
MAX_QUEUED_CLICKS: Final = 4096
#: The background writer begins a batch at most this often (seconds) unless its queue is
#: half full.
BATCH_EVERY_S: Final = 0.1


_T = TypeVar("_T")


class _Job(Generic[_T]):
    """Work given to the writer's thread, and what came of it."""

    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[sqlite3.Connection], _T]) -> None:
        self.work = work
        self.result: _T | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()

    def run(self, conn: sqlite3.Connection) -> None:
        """Do the work in a savepoint of the writer's transaction: its failure takes back
        its own writes only."""
        conn.execute("SAVEPOINT job")
        try:
            self.result = self.work(conn)
        except Exception as exc:
            conn.execute("ROLLBACK TO job")
            self.error = exc
        conn.execute("RELEASE job")

    def fail(self, error: BaseException) -> None:
        self.result, self.error = None, error


class ClickWriter:
    """Commits queued clicks on a thread of its own, in batches.

    ``lock`` guards the queue: ``pending`` (not yet taken) and ``in_flight``
    (being written). A click leaves ``in_flight`` only after its batch has
    committed, so a reader that looks at the queue under the lock and then at
    the database never misses it. Each part keeps its visitors' latest click per
    link, with the clicks recently written (``recent``, see ``_recent``), so a repeat
    click is found without scanning the queue.
    ``token`` names this writer in ``click_writers``.
    """

    def __init__(
        self,
        connect: Callable[[], sqlite3.Connection],
        insert: tuple[str, str],
        *,
        on_commit: Callable[[], None],
        name: str,
        token: str,
        max_queued: int = MAX_QUEUED_CLICKS,
        batch_every_s: float = BATCH_EVERY_S,
    ) -> None:
        self._token = token
        self._every = batch_every_s
        self._began = -batch_every_s  # monotonic time the last batch began
        #: This writer's recent clicks and the other writers' latest time (under ``lock``).
        self.recent = RecentClicks()
        self._insert = insert  # the statement's head and tail around its VALUES
        self._forgot = False  # whether long-silent writers were forgotten yet
        self._on_commit = on_commit
        self._name = name
        self._max = max_queued
        self.lock = threading.Lock()
        #: Held while this thread is inside SQLite: a fork waits for it (a child must not
        #: inherit SQLite's locks mid-call).
        self.guard = threading.Lock()
        self._wake = threading.Condition(self.lock)
        self._room = threading.Condition(self.lock)
        self.pending: list[HeldClick] = []
        self.in_flight: list[HeldClick] = []
        self._jobs: list[_Job[object]] = []
        self._error: StorageError | None = None
        self._stopping = False
        # Opened here, so that what the file says of the other writers is known from the
        # first click on; the thread then uses it.
        with self.guard:
            self._conn = connect()
            self._learn(self._conn)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def queued(self) -> list[HeldClick]:
        """Queued clicks, oldest first (call with ``lock`` held)."""
        return self.in_flight + self.pending

    def latest(self, key: LinkVisit) -> ClickRow | None:
        """The click of ``key`` (merchant, visitor, link) clicked last of those this writer
        holds, queued or recently written (call with ``lock`` held); of two clicked in the
        same millisecond, the one queued later."""
        return self.recent.latest(key)

    def submit(self, clicks: Sequence[ClickRow]) -> None:
        """Queue clicks, waiting while the queue is full; a failed batch's error is raised
        to the next submitter."""
        with self.lock:
            if self._error is not None:
                error, self._error = self._error, None
                raise error
            for click in clicks:
                while len(self.pending) >= self._max:
                    self._room.wait()
                kept = held(click)
                self.pending.append(kept)
                self.recent.add(kept)
                queued = len(self.pending)
                if queued == 1 or queued == self._max // 2:
                    self._wake.notify()  # it waits for a first click, then for a full half

    def call(self, work: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``work`` on the writer's connection, inside the transaction of its next batch
        (at once: a waiting call does not wait out the batch interval), and return what it
        returns; what it raises, or the batch's failure, is raised here. A failing ``work``
        takes back its own writes only."""
        job = _Job(work)
        with self.lock:
            if self._stopping:
                raise StorageError(f"the click writer is stopped ({self._name})")
            self._jobs.append(job)  # type: ignore[arg-type]
            self._wake.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    def stop(self) -> None:
        """Write out the queue and stop the thread; raises a batch's error if one failed."""
        with self.lock:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _take(self) -> tuple[list[HeldClick], list[_Job[object]]] | None:
        with self.lock:
            while not self.pending and not self._jobs and not self._stopping:
                self._wake.wait()
            if not self.pending and not self._jobs:
                return None
            due = self._began + self._every
            while not self._stopping and not self._jobs and len(self.pending) < self._max // 2:
                wait = due - time.monotonic()
                if wait <= 0:
                    break
                self._wake.wait(wait)
            self._began = time.monotonic()
            batch, self.pending = self.pending, []
            jobs, self._jobs = self._jobs, []
            self.in_flight = batch
            self._room.notify_all()
            return batch, jobs

    def _run(self) -> None:
        conn = self._conn
        jobs: list[_Job[object]] = []
        try:
            while (taken := self._take()) is not None:
                batch, jobs = taken
                with self.guard:
                    failure = self._write(conn, batch, jobs)
                for job in jobs:  # told before anything else runs: they are committed
                    if failure is not None:
                        job.fail(failure)
                    job.done.set()
                jobs = []
                if failure is None:
                    self._on_commit()
                    with self.guard:
                        self._learn(conn)
                with self.lock:  # the batch leaves the queue once committed
                    self.in_flight = []
                    if failure is not None and batch:
                        self._error = failure
        finally:
            with self.lock:
                self._stopping = True
                jobs += self._jobs
                self._jobs = []
            for job in jobs:
                if not job.done.is_set():
                    job.fail(StorageError(f"the click writer stopped ({self._name})"))
                    job.done.set()
            conn.close()

    def _write(
        self, conn: sqlite3.Connection, batch: list[HeldClick], jobs: list[_Job[object]]
    ) -> StorageError | None:
        try:
            conn.execute(BEGIN_WRITE)
            if batch:
                insert_rows(conn, self._insert[0], batch, self._insert[1])
                last_ms = max(click[AT] for click in batch)
                conn.execute(REGISTER_WRITER, (self._token, last_ms))
                if not self._forgot:
                    conn.execute(_FORGET, (self._token, last_ms - FORGET_WRITERS_AFTER_MS))
            for job in jobs:
                job.run(conn)
            conn.execute("COMMIT")
        except Exception as exc:  # kept for a caller: this thread has no one to tell
            try:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            what = f"{len(batch)} clicks" + (f" and {len(jobs)} other writes" if jobs else "")
            return StorageError(f"{what} could not be written ({self._name}): {exc}")
        if batch:
            self._forgot = True
        return None

    def _learn(self, conn: sqlite3.Connection) -> None:
        """Read the other writers' latest click time (left stale if the read fails)."""
        try:
            others = conn.execute(_OTHERS, (self._token,)).fetchone()[0]
        except sqlite3.Error:
            return
        with self.lock:
            self.recent.learn(None if others is None else int(others), time.monotonic())
