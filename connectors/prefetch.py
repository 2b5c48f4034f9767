"""Read ahead: run a producer iterator in a thread, a few items ahead of its consumer.

Connectors use it so the source (a registry answering the next page, a database running the
next query) works while the pipeline converts and writes the current page. Errors in the
producer are raised in the consumer; closing the consumer stops the producer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def prefetched(produce: Callable[[threading.Event], Iterator[T]], depth: int = 2,
               name: str = "prefetch") -> Iterator[T]:
    """Items of `produce(stop)`, read up to `depth` items ahead in a thread. The producer
    should check `stop` between items (it is set when the consumer goes away)."""
    items: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def run() -> None:
        try:
            for item in produce(stop):
                items.put(("item", item))
                if stop.is_set():
                    return
            items.put(("end", None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            items.put(("error", exc))

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while True:
            kind, item = items.get()
            if kind == "error":
                raise item  # type: ignore[misc]
            if kind == "end":
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                items.get(timeout=0.1)
            except queue.Empty:
                pass
        worker.join()
