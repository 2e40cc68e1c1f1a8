"""Work that concurrent requests share: what the requests of one event-loop pass hand in is done by
one call (one Redis round trip, one worker-thread call), and each request gets its own part back.

Under load many requests reach the same step in the same pass of the loop (their connections were
ready in the same `epoll` wake-up). Done one by one, each pays the fixed costs of a Redis round trip
(a command through redis-py, a socket send and receive) or of a worker-thread hand-off on its own;
done together, those costs are shared, and a small batch of users is also scored faster per user
than one (recommender.topn). A request alone in its pass waits for nothing: its batch is itself.
This is the grouping the change-log check of service.store.mirror already does for its reads.
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
    """

    def __init__(self, run: Callable[[list[T]], Awaitable[Sequence[R]]], name: str) -> None:
        self._run = run
        self._name = name
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task] = set()

    async def submit(self, item: T) -> R:
        """`item`'s result, from the batch of the pass it was handed in."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if not self._pending:
            # the batch task's first step runs in the next pass, after every request of this one
            task = loop.create_task(self._serve(), name=self._name)
            self._tasks.add(task)  # a reference, so the task cannot be collected while it runs
            task.add_done_callback(self._tasks.discard)
        self._pending.append((item, future))
        return await future  # a cancelled caller cancels only its own future

    async def _serve(self) -> None:
        batch, self._pending = self._pending, []
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
