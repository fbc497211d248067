"""stream_through_actors: every item once, work shared by speed, bounded in-flight work, errors surface."""

from __future__ import annotations

import time

import pytest

from pipeline.actor_stream import stream_through_actors


def _worker_class():
    import ray

    @ray.remote(num_cpus=0)
    class Worker:
        def __init__(self, name: str, delay: float):
            self.name, self.delay = name, delay

        def work(self, item: int) -> tuple[str, int]:
            if item < 0:
                raise ValueError(f"bad item {item}")
            time.sleep(self.delay)
            return self.name, item * item

    return Worker


def test_every_item_once_and_faster_actors_do_more(ray_runtime):
    worker = _worker_class()
    actors = [worker.remote("slow", 0.06), worker.remote("fast", 0.005)]
    out = list(stream_through_actors(actors, "work", range(60), depth=2))
    assert sorted(v for _, v in out) == [i * i for i in range(60)]
    by = {name: sum(1 for n, _ in out if n == name) for name in ("slow", "fast")}
    assert by["fast"] > 2 * by["slow"], by


def test_in_flight_work_is_bounded(ray_runtime):
    worker = _worker_class()
    actors = [worker.remote("a", 0.0)]
    submitted = []

    def items():
        for i in range(20):
            submitted.append(i)
            yield i

    stream = stream_through_actors(actors, "work", items(), depth=3)
    next(stream)
    # One result taken: its actor got one more item, so at most depth + 1 were ever handed out.
    assert len(submitted) <= 4
    assert len(list(stream)) == 19


def test_a_failing_call_raises(ray_runtime):
    from ray.exceptions import RayTaskError

    worker = _worker_class()
    with pytest.raises(RayTaskError, match="bad item -1"):
        list(stream_through_actors([worker.remote("a", 0.0)], "work", [1, 2, -1, 3], depth=2))


def test_needs_an_actor():
    with pytest.raises(ValueError):
        list(stream_through_actors([], "work", [1]))
