"""A command whose reader leaves early (`mailtickets tickets --json | head`) ends without a
traceback (SPEC §2: no traceback for what is not a bug): stdout is a real pipe whose read
end is already closed, so every write fails as it does behind `head`."""

from __future__ import annotations

import io
import os
import sys

import pytest

from tests.conftest import World, eml


def test_a_reader_that_left_gets_no_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    assert world.cycle().errors == []
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader (head) is gone
    broken = io.TextIOWrapper(os.fdopen(write_end, "wb", buffering=0), write_through=True)
    monkeypatch.setattr(sys, "stdout", broken)
    try:
        code = world.run_main("tickets", "--json")
    finally:
        monkeypatch.undo()
        broken.close()
    assert code == 1
    assert "Traceback" not in capsys.readouterr().err
