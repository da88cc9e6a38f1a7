"""Group commit: many small writes from many senders, one transaction (one fsync) each round.

SQLite at synchronous=FULL admits one writer and spends ~3 ms of fsync per commit, so a
release that wrote each result in its own transaction topped out at a few hundred posts a
second however many threads sent (docs/BENCHMARKS.md). Here one writer thread takes every
write that arrived while the previous commit was under way and runs them in one
transaction, each statement on its own so that each caller still gets its own row count
(the ledger's guarded UPDATEs depend on it). A caller waits only for its own round.
Writes of the same statement go to the driver as one executemany; when its summed row
count says some row was not changed, the round is rolled back and run statement by
statement to learn which.

If a round fails (a database error), each of its writes is retried alone in its own
transaction, so one bad write cannot take others down with it.
"""

from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Executable

logger = logging.getLogger(__name__)


@dataclass
class Write:
    """One result to record: a ledger statement, its parameters, and the row count it gets."""

    statement: Executable
    params: dict[str, Any]
    done: Future[int] = field(default_factory=Future)


_STOP = object()


class _SomeUnchanged(Exception):
    """An executemany changed fewer rows than it had writes: find out which, one by one."""


class GroupCommit:
    def __init__(self, engine: Engine, *, max_batch: int = 1000) -> None:
        self._engine = engine
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[Write | object] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="clarion-writer", daemon=True)
        self._closed = False
        self.rounds = 0  # transactions committed (for tests and benchmarks)
        self._thread.start()

    def submit(self, statement: Executable, params: dict[str, Any]) -> Future[int]:
        """Queue one write; the future gives its row count once committed."""
        if self._closed:
            raise RuntimeError("the group writer is closed")
        write = Write(statement, params)
        self._queue.put(write)
        return write.done

    def execute(self, statement: Executable, params: dict[str, Any]) -> int:
        """Write and wait for the commit; returns the row count (raises what the write raised)."""
        return self.submit(statement, params).result()

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self.commit_round([w for w in batch if isinstance(w, Write)])

    def commit_round(self, batch: list[Write]) -> None:
        """One round of the writer thread: the batch in one transaction, or each alone."""
        try:
            counts = self.run_round(batch, grouped=True)
        except _SomeUnchanged:
            counts = None
        except Exception:
            counts = None
            logger.debug("a grouped round failed; running it write by write", exc_info=True)
        if counts is None:
            try:
                counts = self.run_round(batch, grouped=False)
            except Exception as exc:
                if len(batch) == 1:
                    batch[0].done.set_exception(exc)
                    return
                logger.exception("a group of %s writes failed; writing each alone", len(batch))
                for write in batch:
                    self._commit_alone(write)
                return
        self.rounds += 1
        for write, count in zip(batch, counts, strict=True):
            write.done.set_result(count)

    def run_round(self, batch: list[Write], *, grouped: bool) -> list[int]:
        """Run the batch in one transaction; each write's row count, in order."""
        counts = [0] * len(batch)
        with self._engine.begin() as conn:
            if not grouped:
                for i, write in enumerate(batch):
                    counts[i] = int(conn.execute(write.statement, write.params).rowcount)
                return counts
            by_statement: dict[int, list[int]] = {}
            for i, write in enumerate(batch):
                by_statement.setdefault(id(write.statement), []).append(i)
            for indices in by_statement.values():
                statement = batch[indices[0]].statement
                if len(indices) == 1:
                    counts[indices[0]] = int(
                        conn.execute(statement, batch[indices[0]].params).rowcount
                    )
                    continue
                changed = conn.execute(statement, [batch[i].params for i in indices]).rowcount
                if changed != len(indices):
                    raise _SomeUnchanged
                for i in indices:
                    counts[i] = 1
        return counts

    def _commit_alone(self, write: Write) -> None:
        try:
            with self._engine.begin() as conn:
                count = int(conn.execute(write.statement, write.params).rowcount)
        except Exception as exc:  # handed to the caller, who decides what it means
            write.done.set_exception(exc)
            return
        write.done.set_result(count)
