"""The background exchange of the shared velocity windows with the store's counters.

A click only counts in memory (``SharedCounts`` built with ``background=True``);
once a second of wall time, and whenever a call finds a second of the alliance's
clock gone (``poke``), a daemon thread of this alliance hands the pending counts
to the counter repository and reads back the shared totals, so no click waits
for that I/O. ``close`` stops the thread and exchanges one last
time on the caller's thread. A forked child does not inherit the parent's
thread: no exchange is under way across a fork (one in progress is waited
for), and the child forgets the counts the parent has yet to share (they are
the parent's) and starts an exchanger of its own.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Final

from affiliate_sdk.antifraud.velocity import SharedCounts

__all__ = ["EXCHANGE_PERIOD_S", "JOIN_TIMEOUT_S", "THREAD_NAME", "Exchanger"]

#: Seconds of wall time between two exchanges.
EXCHANGE_PERIOD_S: Final = 1.0
#: How long ``close`` waits for an exchange under way before exchanging itself.
JOIN_TIMEOUT_S: Final = 30.0
#: The exchanger thread's name.
THREAD_NAME: Final = "affiliate-sdk-velocity-exchange"


class Exchanger:
    """A daemon thread that exchanges ``windows`` every ``period_s`` of wall time.

    ``now_ms`` is the alliance's clock in milliseconds (the instant each exchange
    is made at). Failures are logged and the next round tries again: counts whose
    handing over failed stay pending, so none is lost or counted twice.
    """

    def __init__(
        self,
        windows: Sequence[SharedCounts],
        now_ms: Callable[[], int],
        *,
        log: logging.Logger,
        period_s: float = EXCHANGE_PERIOD_S,
    ) -> None:
        self._windows = tuple(windows)
        self._now_ms = now_ms
        self._log = log
        self._period_s = period_s
        self._failing = False
        self._held = False  # the windows' exchanges are held off across a fork
        self._start_fresh()
        this = weakref.ref(self)

        def hook(step: Callable[[Exchanger], None]) -> Callable[[], None]:
            def run() -> None:
                exchanger = this()
                if exchanger is not None:
                    step(exchanger)

            return run

        os.register_at_fork(
            before=hook(Exchanger._before_fork),
            after_in_parent=hook(Exchanger._after_fork_in_parent),
            after_in_child=hook(Exchanger._after_fork_in_child),
        )

    def _start_fresh(self) -> None:
        """The thread, events and counters of this process (a forked child's are not ours)."""
        self._closed = False
        #: Set after every round (successful or not); tests may clear and wait on it.
        self.exchanged = threading.Event()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._done = threading.Condition(threading.Lock())
        self._requested = 0  # exchange_now calls so far
        self._served = 0  # of them, those a finished round began after
        self._thread = threading.Thread(
            target=_run,
            args=(weakref.ref(self), self._stop, self._wake, self._period_s),
            name=THREAD_NAME,
        )
        self._thread.daemon = True
        self._thread.start()
        weakref.finalize(self, self._stop.set)  # an abandoned exchanger's thread ends

    def _before_fork(self) -> None:
        """No exchange runs across a fork: one under way is waited for, the next held off."""
        if not self._closed:
            for window in self._windows:
                window.before_fork()
            self._held = True

    def _after_fork_in_parent(self) -> None:
        if self._held:
            self._held = False
            for window in self._windows:
                window.after_fork_in_parent()

    def _after_fork_in_child(self) -> None:
        """The parent's thread is not ours, nor are the counts it has yet to share."""
        if self._held:
            self._held = False
            for window in self._windows:
                window.after_fork_in_child()
            if not self._closed:
                self._start_fresh()

    @property
    def thread(self) -> threading.Thread:
        """The exchanging thread (alive until ``close``)."""
        return self._thread

    def poke(self) -> None:
        """Wake the thread for a round, without waiting for it."""
        self._wake.set()

    def exchange_now(self, timeout: float = 10.0) -> bool:
        """Wake the thread and wait until a round that began after this call has finished;
        False if none did within ``timeout`` seconds (or the exchanger is closed)."""
        with self._done:
            if self._closed:
                return False
            self._requested += 1
            wanted = self._requested
        self._wake.set()
        with self._done:
            return self._done.wait_for(lambda: self._served >= wanted, timeout)

    def close(self, now_ms: int) -> None:
        """Stop the thread, then exchange what is left at ``now_ms`` on this thread. Idempotent
        (later calls only exchange)."""
        with self._done:
            self._closed = True
        self._stop.set()
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join(JOIN_TIMEOUT_S)
        for window in self._windows:
            window.flush(now_ms)

    def run_once(self) -> None:
        """One exchange of every window at the clock's now (what the thread runs)."""
        with self._done:
            serving = self._requested
        try:
            now_ms = self._now_ms()
            for window in self._windows:
                window.exchange(now_ms)
        except Exception:
            if not self._failing:  # once per run of failures, not once a second
                self._log.warning("velocity counts not exchanged; retrying", exc_info=True)
            self._failing = True
        else:
            if self._failing:
                self._log.info("velocity counts exchanged again")
            self._failing = False
        finally:
            with self._done:
                self._served = max(self._served, serving)
                self._done.notify_all()
            self.exchanged.set()


def _run(
    ref: weakref.ReferenceType[Exchanger],
    stop: threading.Event,
    wake: threading.Event,
    period: float,
) -> None:
    """The thread: a round every ``period`` seconds of wall time, or when woken, until
    stopped or the exchanger is gone (holding it only during a round)."""
    due = time.monotonic() + period
    while not stop.is_set():
        wake.wait(max(0.0, due - time.monotonic()))
        wake.clear()
        if stop.is_set():
            return
        exchanger = ref()
        if exchanger is None:
            return
        exchanger.run_once()
        del exchanger
        now = time.monotonic()
        if now >= due:  # a woken round early leaves the schedule as it was
            due += period
            if due <= now:  # a round overran: no catching up back to back
                due = now + period
