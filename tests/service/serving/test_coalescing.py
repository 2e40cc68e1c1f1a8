"""Coalescer: what the requests of one event-loop pass hand in is done in one call, each caller
gets its own result, errors reach every caller of the batch, and a cancelled caller cancels only itself."""

from __future__ import annotations

import asyncio

import pytest

from service.serving.coalescing import Coalescer


class Recorder:
    """A batch function that doubles its items and remembers the batches it was given."""

    def __init__(self, fail_on: object = None) -> None:
        self.batches: list[list[int]] = []
        self.fail_on = fail_on

    async def run(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(0)  # a real batch waits for Redis or a thread
        if self.fail_on in items:
            raise ValueError(f"cannot do {self.fail_on}")
        return [2 * item for item in items]


async def test_items_handed_in_during_one_pass_are_done_in_one_call_in_order() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run, "test")
    results = await asyncio.gather(*(coalescer.submit(k) for k in range(7)))
    assert results == [0, 2, 4, 6, 8, 10, 12]
    assert recorder.batches == [list(range(7))]


async def test_a_caller_alone_in_its_pass_is_its_own_batch_and_later_passes_start_new_batches() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run, "test")
    assert await coalescer.submit(1) == 2
    assert await coalescer.submit(2) == 4
    first = asyncio.gather(coalescer.submit(3), coalescer.submit(4))
    await asyncio.sleep(0)  # the first two are handed in; the batch has not run yet
    second = coalescer.submit(5)
    assert await first == [6, 8] and await second == 10
    assert recorder.batches == [[1], [2], [3, 4], [5]]


async def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_works() -> None:
    recorder = Recorder(fail_on=3)
    coalescer = Coalescer(recorder.run, "test")
    results = await asyncio.gather(*(coalescer.submit(k) for k in (1, 3, 5)), return_exceptions=True)
    assert all(isinstance(r, ValueError) and "cannot do 3" in str(r) for r in results)
    assert await coalescer.submit(4) == 8


async def test_a_cancelled_caller_does_not_cancel_the_others() -> None:
    recorder = Recorder()
    coalescer = Coalescer(recorder.run, "test")
    doomed = asyncio.create_task(coalescer.submit(1))
    kept = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0)  # both handed in, in one pass
    doomed.cancel()
    assert await kept == 4
    with pytest.raises(asyncio.CancelledError):
        await doomed
    assert recorder.batches == [[1, 2]]
