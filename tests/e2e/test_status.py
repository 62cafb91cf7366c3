"""`mailtickets status [--json]` (SPEC §2, issue 10 point 5) through the real command line,
against the real Dovecot and SMTP fixtures: healthy after a cycle; a stopped relay, a
mailbox never fetched and an unreachable database each exit 1 with their line."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import World, eml, eml_variant, write_config
from tests.servers import free_port


def status(world: World) -> tuple[int, list[str], dict[str, Any]]:
    """Exit code, stdout lines and the --json object (the two must agree)."""
    code, out, err = world.cli("status")
    json_code, json_out, json_err = world.cli("status", "--json")
    assert code == json_code, (out, json_out)
    assert "Traceback" not in err + json_err, err + json_err
    return code, out.splitlines(), json.loads(json_out)


def test_healthy_after_a_cycle_and_the_running_holder_is_named(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    code, _out, err = world.cli("run", "--once")
    assert code == 0, err
    (ticket,) = world.tickets()
    rc, lines, data = status(world)
    assert rc == 0, lines
    assert lines[0] == "healthy: nothing stale or failing"
    assert data["problems"] == [] and data["healthy"] is True
    (box,) = data["mailboxes"]
    assert box["holder"] is None  # `run --once` gave it up when it ended
    fetched = datetime.fromisoformat(box["last_fetch_at"])
    assert timedelta(0) <= datetime.now(UTC) - fetched < timedelta(minutes=1)
    assert box["backlog"] == 0
    assert data["outbox"]["pending"] == 0 and data["outbox"]["oldest_due_mail"] is None
    assert data["quarantine"] == 0
    assert data["oldest_unanswered_ticket"]["code"] == ticket["code"]

    log = world.tmp / "run.log"
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    with log.open("wb") as stderr:
        daemon = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + 30
        while "now watched by worker" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        rc, lines, data = status(world)
        assert rc == 0, lines
        holder = data["mailboxes"][0]["holder"]
        assert holder["pid"] == daemon.pid and holder["alive"] is True
        assert f"watched by worker {holder['worker_id']} (pid {daemon.pid}" in "\n".join(lines)
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=60) == 0, log.read_text()[-2000:]


def test_a_stopped_relay_leaving_due_mail_old_is_a_problem(world: World) -> None:
    world.deliver(eml_variant(0, "status"))
    world.sink.stop()
    try:
        # Queued an hour ago (the daemon's clock), tried once, and never delivered since.
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        report = world.cycle(clock=lambda: hour_ago)
        assert report.retried and not report.sent
        rc, lines, data = status(world)
    finally:
        world.sink.restart()
    assert rc == 1
    waiting = [line for line in lines if line.startswith("outbox: oldest due mail waiting 60 min")]
    assert len(waiting) == 1 and "1 attempt(s), last error:" in waiting[0], lines
    assert waiting[0] in data["problems"]
    assert data["outbox"]["pending"] >= 1
    assert data["outbox"]["oldest_due_mail"]["waiting_seconds"] >= 3600
    assert not any(p.startswith("mailbox") for p in data["problems"]), data["problems"]


def test_a_mailbox_never_fetched_is_a_problem_naming_the_error(world: World) -> None:
    closed = free_port()  # nothing listens there
    config = world.config.read_text().replace(
        f"port = {world.dovecot.port}\n", f"port = {closed}\n"
    )
    assert f"port = {closed}" in config
    world.config.write_text(config)
    code, _out, err = world.cli("run", "--once")
    assert code == 1 and f"127.0.0.1:{closed}" in err
    rc, lines, data = status(world)
    assert rc == 1
    key = f"{world.user}@127.0.0.1:{closed}/INBOX"
    never = f"mailbox default ({key}): never fetched (last error: IMAP server 127.0.0.1:{closed}:"
    assert any(line.startswith(never) for line in lines), lines
    assert any(p.startswith(never) for p in data["problems"])
    assert data["mailboxes"][0]["last_fetch_at"] is None


def test_an_unreachable_database_is_one_line(world: World) -> None:
    missing = world.tmp / "no-such-folder" / "mt.db"
    write_config(world.config, world.dovecot, world.user, world.sink, missing)
    code, out, err = world.cli("status")
    assert code == 1, out + err
    (line,) = out.splitlines()
    assert str(missing) in line and "Traceback" not in err
    code, out, _err = world.cli("status", "--json")
    data = json.loads(out)
    assert code == 1 and data["healthy"] is False and len(data["problems"]) == 1
