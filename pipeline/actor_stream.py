"""Stream work items through a pool of Ray actors and yield results as they complete.

Each actor is kept `depth` items deep, so it starts its next item the moment it finishes one instead of
waiting for a driver round trip; an idle actor is handed the next item as soon as it returns a result, so
fast and slow actors (or nodes) share the work by speed. At most `depth * len(actors)` results are in
flight: the driver's memory does not grow with the corpus.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

_END = object()


def stream_through_actors(actors: Sequence[Any], method: str, items: Iterable[Any], depth: int = 2) -> Iterator[Any]:
    """Call `actor.<method>.remote(item)` for every item; yield each result once, in completion order.

    A failing call raises here (after Ray's own task retries, if the actors were created with them)."""
    import ray

    if not actors:
        raise ValueError("stream_through_actors needs at least one actor")
    todo = iter(items)
    owner: dict[Any, Any] = {}  # in-flight ObjectRef -> the actor computing it

    def submit(actor: Any) -> None:
        item = next(todo, _END)
        if item is not _END:
            owner[getattr(actor, method).remote(item)] = actor

    for actor in actors:
        for _ in range(depth):
            submit(actor)
    while owner:
        [ref], _ = ray.wait(list(owner), num_returns=1)
        submit(owner.pop(ref))  # before ray.get: the actor's queue is refilled while this result is fetched
        yield ray.get(ref)
