"""Changes announced on Redis: a catalog or blacklist change one process makes reaches every
other process's caches at once, not at the end of their cache period.

Each process caches the catalog and the blacklist, and asks the store at most once per
``campaign_cache_ttl`` whether they changed. With the counters on Redis, a process that
changes one of them publishes its name (``catalog``, ``blacklist``) on the channel
``{prefix}changes``; a thread of every process listens there and counts what it hears per
name. A cache whose count moved asks the store again at its next use (once per move: a
writer whose change commits after its announcement, inside a larger unit of work, announces
it again once committed). A lost connection counts as a change of everything, when it is
lost and when it is back: what was announced meanwhile was not heard.
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import defaultdict
from contextlib import suppress
from typing import Any, Final

__all__ = ["RedisChanges"]

#: Seconds the listener waits for a message before it looks whether it should stop.
POLL_S: Final = 0.5
#: Seconds it waits before it connects again after the connection failed.
RETRY_S: Final = 1.0
#: Seconds between the listener's checks that its connection is alive.
HEALTH_S: Final = 10
_log = logging.getLogger("affiliate_sdk")


class RedisChanges:
    """Announcements of changes on a Redis channel, and what this process heard of them."""

    def __init__(
        self,
        client: Any,
        url: str,
        *,
        prefix: str,
        redacted_url: str,
        errors: tuple[type[BaseException], ...],
    ) -> None:
        import redis

        self._publisher = client  # the counters' client: its calls time out as theirs do
        self._redacted = redacted_url
        self._errors = errors
        self._channel = f"{prefix}changes"
        self._client: Any = redis.Redis.from_url(  # waits for messages: no read timeout
            url, socket_connect_timeout=POLL_S, health_check_interval=HEALTH_S
        )
        self._heard: defaultdict[str, int] = defaultdict(int)
        self._lost = 0  # connections lost or made: everything may have changed meanwhile
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        this = weakref.ref(self)

        def after_fork_in_child() -> None:  # the parent's listener did not come along
            changes = this()
            if changes is not None:
                changes._thread, changes._lock = None, threading.Lock()

        os.register_at_fork(after_in_child=after_fork_in_child)

    def announce(self, topic: str) -> None:
        """Tell every process that ``topic`` changed (a failure is logged: the caches then
        see the change at the end of their period)."""
        try:
            self._publisher.publish(self._channel, topic)
        except self._errors as exc:
            _log.warning("a %s change was not announced on %s: %s", topic, self._redacted, exc)

    def heard(self, topic: str) -> int:
        """How many announcements of ``topic`` this process heard (and connections it lost):
        a number that moves when the topic may have changed. Listens from the first call."""
        if self._thread is None:
            self._listen()
        return self._heard[topic] + self._lost

    def close(self) -> None:
        """Stop listening and close the connections."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(POLL_S * 4)
        self._client.close()

    def _listen(self) -> None:
        with self._lock:
            if self._thread is None and not self._stop.is_set():
                self._thread = threading.Thread(
                    target=self._run, name=f"affiliate-sdk changes {self._channel}", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        failed = False
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                if failed:  # what was announced while the connection was down went unheard
                    self._lost += 1
                    failed = False
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=POLL_S)
                    if message is not None and message.get("type") == "message":
                        data = message["data"]
                        topic = data.decode(errors="replace") if isinstance(data, bytes) else data
                        self._heard[str(topic)] += 1
            except Exception as exc:  # the listener goes on, whatever broke the connection
                failed = True
                self._lost += 1
                _log.warning("listening for changes on %s failed: %s", self._redacted, exc)
                self._stop.wait(RETRY_S)
            finally:
                with suppress(*self._errors):
                    pubsub.close()
