"""The command line as ops use it: real processes, real servers, SPEC §2 exit codes."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import World, eml
from tests.servers import free_port


def test_run_once_ingests_processes_delivers_and_logs_one_line_per_message(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.deliver(eml("new-outlook-latin1.eml"))
    code, out, err = world.cli("run", "--once")
    assert code == 0, err
    assert "fetched 2 new" in out and "mail sent 4" in out
    lines = [line for line in err.splitlines() if "mailtickets.pipeline" in line]
    assert len(lines) == 2
    assert all("uid=" in line and "ticket=SOP-" in line and "<" in line for line in lines)
    assert len(world.sink.received) == 4


def test_tickets_filters_and_show(world: World) -> None:
    world.deliver(eml("new-gmail-plain.eml"))
    world.deliver(eml("new-outlook-latin1.eml"))
    world.cycle()
    assert len(world.tickets()) == 2
    rc, out, _ = world.cli("tickets", "--department", "Facturación", "--json")
    assert rc == 0 and '"department": "Facturación"' in out and "Hosting" not in out
    rc, out, _ = world.cli("tickets", "--status", "closed", "--json")
    assert rc == 0 and out.strip() == "[]"
    code = world.tickets()[0]["code"]
    detail = world.show(str(code))
    for key in (
        "code",
        "subject",
        "status",
        "priority",
        "department",
        "requester",
        "customer",
        "assignee",
        "created_at",
        "updated_at",
        "messages",
        "events",
    ):
        assert key in detail
    assert detail["created_at"].endswith("+00:00")
    message = detail["messages"][0]
    assert set(message) >= {"direction", "sender", "recipients", "date", "text", "attachments"}
    rc, out, _ = world.cli("show", str(code))
    assert rc == 0 and str(code) in out and "Events:" in out


def test_show_unknown_code_is_exit_1_with_one_line(world: World) -> None:
    rc, out, err = world.cli("show", "SOP-ZZZZZZ")
    assert rc == 1 and out == "" and "SOP-ZZZZZZ" in err and "Traceback" not in err


def test_check_passes_against_the_real_servers(world: World) -> None:
    rc, out, err = world.cli("check")
    assert rc == 0, err
    for name in ("config", "database", "imap", "smtp", "templates"):
        assert f"ok    {name}" in out
    assert "secret" not in out + err  # the IMAP password is never printed


def test_check_and_run_name_the_server_that_cannot_be_reached(world: World) -> None:
    dead = free_port()
    text = world.config.read_text().replace(f"port = {world.sink.port}", f"port = {dead}")
    world.config.write_text(text)
    rc, _, err = world.cli("check")
    assert rc == 1 and f"127.0.0.1:{dead}" in err and "Traceback" not in err
    world.deliver(eml("new-gmail-plain.eml"))
    rc, out, err = world.cli("run", "--once")
    assert rc == 1 and "retrying 2" in out and f"127.0.0.1:{dead}" in err
    assert "Traceback" not in err
    assert len(world.tickets()) == 1  # the mail is safe; its notices wait in the outbox


def test_usage_error_is_exit_2(world: World) -> None:
    rc, _, err = world.cli("tickets", "--bogus")
    assert rc == 2 and "Traceback" not in err


def test_demo_runs_end_to_end_on_embedded_servers() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "demo"], capture_output=True, text=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert out.count("Hemos recibido su consulta") >= 2
    assert "Revisa que el puerto SMTP sea el 465" in out
    assert "## Tickets" in out and " open " in out
    assert "duplicate" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_processes_starting_together_on_a_new_database_all_succeed(world: World) -> None:
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "tickets"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    results = [(p.wait(timeout=60), p.communicate()[1]) for p in procs]
    assert all(code == 0 for code, _ in results), [err for _, err in results]


def test_read_only_commands_need_no_mail_secrets(world: World) -> None:
    # A support manager's account may not read the mail password: tickets and show work,
    # the commands that log in refuse with one line naming the file and the key.
    world.deliver(eml("new-gmail-plain.eml"))
    assert world.cli("run", "--once")[0] == 0
    code = str(world.tickets()[0]["code"])
    # (Tests run as root, who reads any file: a file that is not there stands for one that
    # this user may not read.)
    secret = world.tmp / "imap.password"
    text = world.config.read_text().replace('password = "secret"', f'password_file = "{secret}"')
    world.config.write_text(text)
    assert world.cli("tickets")[0] == 0
    rc, out, _ = world.cli("show", code)
    assert rc == 0 and code in out
    for command in (("run", "--once"), ("sweep",)):
        rc, _, err = world.cli(*command)
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
        assert "[imap] password_file" in lines[0] and str(world.config) in lines[0]
