"""``AsyncDispatcher``: the same deliveries, with every store step off the event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager

from affiliate_sdk._services.webhooks import WebhookService
from affiliate_sdk.storage.contract import CounterRepo, UnitOfWork
from affiliate_sdk.storage.memory import MemoryStore
from affiliate_sdk.testing import FakeClock

from ..receiver import Answer, Receiver
from .support import booked, make_service, orders, subscription, write


class ThreadRecordingStore:
    """A store that notes the thread of every unit of work it opens."""

    def __init__(self, inner: MemoryStore) -> None:
        self.inner = inner
        self.scheme = inner.scheme
        self.threads: list[int] = []

    @property
    def counters(self) -> CounterRepo:
        return self.inner.counters

    @contextmanager
    def _noted(self, unit: AbstractContextManager[UnitOfWork]) -> Iterator[UnitOfWork]:
        self.threads.append(threading.get_ident())
        with unit as tx:
            yield tx

    @property
    def chains(self) -> int:
        return self.inner.chains

    def transaction(self, *, chain: int | None = None) -> AbstractContextManager[UnitOfWork]:
        return self._noted(self.inner.transaction(chain=chain))

    def reader(self) -> AbstractContextManager[UnitOfWork]:
        return self._noted(self.inner.reader())

    def close(self) -> None:
        self.inner.close()


def test_store_work_and_dns_run_off_the_loop(clock: FakeClock, receiver: Receiver) -> None:
    store = ThreadRecordingStore(MemoryStore())
    service = make_service(clock, store)
    lookups: list[int] = []

    def resolver(host: str, port: int) -> Sequence[str]:
        lookups.append(threading.get_ident())
        return ["127.0.0.1"]

    for n in range(3):  # a name, looked up before each attempt (a literal never is)
        url = f"http://hooks.test:{receiver.port}/s{n}"
        service.subscribe(subscription(url, subscription_id=f"s{n}"))
    write(store.inner, *(booked(clock, n) for n in range(1, 4)))
    store.threads.clear()

    async def main() -> tuple[int, int]:
        loop_thread = threading.get_ident()
        dispatcher = service.async_dispatcher(allow_private=True, resolver=resolver)
        async with dispatcher:
            report = await dispatcher.run_once(concurrency=2)
        return loop_thread, report.delivered

    loop_thread, delivered = asyncio.run(main())
    assert delivered == 9
    assert store.threads and loop_thread not in store.threads
    assert len(lookups) == 9 and loop_thread not in lookups
    for n in range(3):
        assert orders([r for r in receiver.received if r.path == f"/s{n}"]) == ["o1", "o2", "o3"]


def test_async_retries_and_dead_letters_like_the_sync_one(
    service: WebhookService, store: MemoryStore, clock: FakeClock, receiver: Receiver
) -> None:
    service.subscribe(subscription(f"{receiver.url}/hook"))
    write(store, booked(clock, 1), booked(clock, 2))
    receiver.script.extend([Answer(400), Answer(500)])
    dispatcher = service.async_dispatcher(allow_private=True)
    first = asyncio.run(dispatcher.run_once())
    assert (first.dead, first.retried, first.delivered) == (1, 1, 0)
    service.retry_now("s1")
    assert asyncio.run(dispatcher.run_once()).delivered == 1
    assert [e["status"] for e in service.delivery_log("s1")] == [400, 500, 200]
