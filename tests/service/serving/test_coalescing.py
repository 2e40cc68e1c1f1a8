"""Coalescer: what the requests of one event-loop pass hand in is done in one call, each caller
gets its own result, errors reach every caller of the batch, a cancelled caller cancels only itself,
and with at most one batch in flight, what arrives meanwhile is the next batch."""

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


async def test_with_one_in_flight_what_arrives_during_a_batch_is_the_next_batch() -> None:
    release = asyncio.Event()

    async def held(items: list[int]) -> list[int]:
        batches.append(list(items))
        await release.wait()
        return [2 * item for item in items]

    batches: list[list[int]] = []
    coalescer = Coalescer(held, "test", one_in_flight=True)
    first = asyncio.create_task(coalescer.submit(1))
    while not batches:  # the first batch is running
        await asyncio.sleep(0)
    later = [asyncio.create_task(coalescer.submit(k)) for k in (2, 3)]
    await asyncio.sleep(0)
    later.append(asyncio.create_task(coalescer.submit(4)))  # another pass, still during the first batch
    for _ in range(5):
        await asyncio.sleep(0)
    assert batches == [[1]]  # nothing starts while the first batch runs
    release.set()
    assert await first == 2 and await asyncio.gather(*later) == [4, 6, 8]
    assert batches == [[1], [2, 3, 4]]
    assert await coalescer.submit(5) == 10 and batches[-1] == [5]  # idle again: a batch of its own at once


async def test_with_one_in_flight_a_failed_batch_still_starts_the_next() -> None:
    recorder = Recorder(fail_on=1)
    coalescer = Coalescer(recorder.run, "test", one_in_flight=True)
    first = asyncio.create_task(coalescer.submit(1))
    while not recorder.batches:
        await asyncio.sleep(0)
    second = asyncio.create_task(coalescer.submit(2))
    with pytest.raises(ValueError):
        await first
    assert await second == 4 and recorder.batches == [[1], [2]]


async def test_with_one_in_flight_stopping_the_running_batch_cancels_the_waiting_callers() -> None:
    started = asyncio.Event()

    async def hung(items: list[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()
        return items

    coalescer = Coalescer(hung, "test", one_in_flight=True)
    first = asyncio.create_task(coalescer.submit(1))
    await started.wait()
    waiting = asyncio.create_task(coalescer.submit(2))
    await asyncio.sleep(0)
    (running,) = coalescer._tasks
    running.cancel()  # as the app's shutdown cancels its tasks
    for task in (first, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert not coalescer._tasks and not coalescer._pending
