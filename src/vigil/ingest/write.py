"""The durable write every receiver ends with: dedupe by id, commit, count, answer.

Receivers (events, OTLP, Loki) validate their own wire format; this module is the part they share,
so "acknowledged means committed" and "a retried id is stored once" hold the same way for all.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from operator import attrgetter
from typing import Any

from vigil.api.errors import APIError
from vigil.ingest.state import DEDUPED_TABLES, ingest_state
from vigil.pipeline import Backpressure, PipelineClosed
from vigil.records import CallRecord, Prediction, Record


async def commit(vigil: Any, records: Sequence[Record]) -> None:
    """`pipeline.write`, with back-pressure and shutdown answered as 503 + `retry-after`."""
    try:
        await vigil.pipeline.write(records)
    except Backpressure as exc:
        retry = str(max(1, round(exc.retry_after)))
        raise APIError(503, "overloaded", str(exc), headers={"retry-after": retry}) from None
    except PipelineClosed as exc:
        raise APIError(503, "shutting_down", str(exc), headers={"retry-after": "1"}) from None


async def commit_once(
    vigil: Any, records: Sequence[Record], client_ids: Sequence[bool] | None = None
) -> list[bool]:
    """Commit the records whose id was not seen before; returns which ones were duplicates.

    `client_ids[i]` says record i carries an id its sender chose (only those can repeat; ids Vigil
    generated are new by construction). Duplicates are acknowledged without being stored again.
    """
    state = ingest_state(vigil)
    if not state.deduper.warm.is_set():
        await state.deduper.warm.wait()
    by_table: dict[str, list[int]] = defaultdict(list)
    if client_ids is None or False not in client_ids:
        chosen: Sequence[int] = range(len(records))
    else:  # only ids the senders chose can repeat
        chosen = [i for i, client in enumerate(client_ids) if client] if True in client_ids else ()
    for index in chosen:
        record = records[index]
        if record.TABLE in DEDUPED_TABLES:
            by_table[record.TABLE].append(index)
    duplicate = [False] * len(records)
    reserved: list[tuple[str, list[int]]] = []
    for table, indexes in by_table.items():
        window = state.deduper.table(table)
        hashes, seen = window.reserve([records[i].id for i in indexes])  # type: ignore[union-attr]
        fresh: list[int] = []
        for i, h, dup in zip(indexes, hashes, seen, strict=True):
            if dup:
                duplicate[i] = True
            else:
                fresh.append(h)
        reserved.append((table, fresh))
    committed = False
    try:
        fresh_records = records
        if True in duplicate:
            fresh_records = [r for r, dup in zip(records, duplicate, strict=True) if not dup]
        await commit(vigil, fresh_records)
        committed = True
    finally:
        for table, fresh in reserved:
            state.deduper.table(table).release(fresh, committed)
    return duplicate


def count_accepted(vigil: Any, records: Sequence[Record]) -> None:
    """Ingest counters and the LLM/ML metrics a stored record feeds."""
    metrics = vigil.metrics
    for record_type, group in _by_type(records).items():
        metrics.ingest_events.labels(record_type.KIND).inc(len(group))
        if record_type is Prediction:
            for model, n in Counter(map(_MODEL, group)).items():
                metrics.predictions.labels(model).inc(n)
        elif record_type is CallRecord:
            metrics.observe_calls(group)


_MODEL = attrgetter("model")


def _by_type(records: Sequence[Record]) -> dict[type[Record], Sequence[Any]]:
    types = set(map(type, records))
    if len(types) == 1:
        return {types.pop(): records}  # the usual batch: one kind
    groups: dict[type[Record], list[Record]] = defaultdict(list)
    for record in records:
        groups[type(record)].append(record)
    return dict(groups)
