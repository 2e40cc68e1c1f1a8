"""Work that concurrent requests share: what the requests of one event-loop pass hand in is done by
one call (one Redis round trip, one scoring of cache misses), and each request gets its own part back.

Under load many requests reach the same step in the same pass of the loop (their connections were
ready in the same `epoll` wake-up). Done one by one, each pays the fixed costs of a Redis round trip
(a command through redis-py, a socket send and receive) or of a scoring call on its own;
done together, those costs are shared, and a small batch of users is also scored faster per user
than one (recommender.topn). A request alone in its pass waits for nothing: its batch is itself.
With `one_in_flight`, a batch waits for the one before it, so under load every request that arrives
during a round trip shares the next one (a loop cycle's requests, not a pass's): the grouping the
change-log check of service.store.mirror does for its reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    """Calls `run` once per event-loop pass with everything `submit`ted during that pass.

    Parameters
    ----------
    run : callable
        ``async run(items) -> results``: one result per item, in order. An exception it raises is
        raised to every caller of the batch.
    name : str
        Names the batch tasks (asyncio task names, for debugging).
    one_in_flight : bool
        At most one `run` at a time: what is submitted while one runs is run together as soon as it
        is done (items that need a bound on their wait carry their own deadline).
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], name: str, one_in_flight: bool = False
                 ) -> None:
        self._run = run
        self._name = name
        self._one_in_flight = one_in_flight
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task] = set()
        self._running = False  # a batch is being run (one_in_flight)

    async def submit(self, item: T) -> R:
        """`item`'s result, from the batch of the pass it was handed in."""
        return await self.post(item)  # a cancelled caller cancels only its own future

    def post(self, item: T) -> asyncio.Future[R]:
        """Hand `item` in without waiting: the future of its result (`submit` awaits it). Batches run in the
        order they were handed in, so when this future is done every item posted before it is done too."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        if not self._pending and not (self._one_in_flight and self._running):
            self._start()  # otherwise the batch already pending, or the one after the batch running, takes it
        self._pending.append((item, future))
        return future

    def _start(self) -> None:
        # the batch task's first step runs in the next pass, after every request of this one
        task = asyncio.get_running_loop().create_task(self._serve(), name=self._name)
        self._tasks.add(task)  # a reference, so the task cannot be collected while it runs
        task.add_done_callback(self._tasks.discard)

    async def _serve(self) -> None:
        batch, self._pending = self._pending, []
        self._running = True
        try:
            await self._serve_batch(batch)
        finally:
            self._running = False
            if self._one_in_flight and self._pending:  # what arrived meanwhile goes next ...
                task = asyncio.current_task()
                if task is None or not task.cancelling():
                    self._start()
                else:  # ... unless the app is stopping: those callers are cancelled too
                    waiting, self._pending = self._pending, []
                    for _, future in waiting:
                        future.cancel()

    async def _serve_batch(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            results = await self._run([item for item, _ in batch])
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise  # cancelled (the app is stopping), or the interpreter is going down
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
