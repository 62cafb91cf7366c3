"""A message bigger than one FETCH piece is read in pieces and saved byte for byte."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from bench.corpus import big_mail
from mailtickets.ingest import FETCH_BYTES
from tests.conftest import World


def saved_raw(world: World) -> list[bytes]:
    with closing(sqlite3.connect(world.tmp / "mt.db")) as conn:
        query = "SELECT raw FROM inboundbody ORDER BY inbound_id"
        return [bytes(raw) for (raw,) in conn.execute(query)]


def test_a_big_mail_is_saved_whole_and_answered(world: World) -> None:
    big = big_mail(FETCH_BYTES * 2 + 12_345, seed=4, support="soporte@hostingejemplo.es")
    assert len(big.raw) > 2 * FETCH_BYTES  # three pieces, the last one short
    world.deliver(big.raw)
    report = world.cycle()
    assert [r.state for r in report.results] == ["done"]
    assert saved_raw(world) == [big.raw]
    assert len(world.sink.to(big.sender)) == 1  # the acknowledgement
    world.deliver(big.raw)  # the same mail again: recognised by its Message-ID
    assert world.cycle().duplicates == 1
    assert len(saved_raw(world)) == 1


def test_a_big_mail_without_a_message_id_is_read_whole_and_saved(world: World) -> None:
    big = big_mail(FETCH_BYTES + 1000, seed=5, support="soporte@hostingejemplo.es")
    head, _, body = big.raw.partition(b"\r\n\r\n")
    lines = [h for h in head.split(b"\r\n") if not h.lower().startswith(b"message-id:")]
    raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
    world.deliver(raw)
    assert [r.state for r in world.cycle().results] == ["done"]
    assert saved_raw(world) == [raw]
