"""`mailtickets db upgrade|current` and `--version` as ops run them: real processes, SPEC §2."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from importlib.metadata import version
from pathlib import Path

from mailtickets import schema
from tests.conftest import World
from tests.migrations import RELEASE_0_1_0, all_rows, database_at, load_dump, lost_rows


def test_db_upgrade_stamps_a_release_0_1_0_database_and_keeps_every_row(world: World) -> None:
    db = world.tmp / "mt.db"
    load_dump(RELEASE_0_1_0, db)
    before = all_rows(db)
    rc, out, err = world.cli("db", "current")
    assert rc == 0, err
    assert out.splitlines()[0].endswith(": none") and "made by mailtickets 0.1.0" in out

    rc, out, err = world.cli("db", "upgrade")
    assert rc == 0, err
    assert f"schema none -> {schema.head()} (tables of mailtickets 0.1.0, stamped 0001)" in out
    assert lost_rows(before, all_rows(db)) == {}
    rc, out, _ = world.cli("db", "current")
    assert rc == 0 and "up to date" in out and f": {schema.head()} (head)" in out
    rc, out, _ = world.cli("db", "upgrade")
    assert rc == 0 and "(already at this revision)" in out

    codes = sorted(str(t["code"]) for t in world.tickets())
    assert codes == sorted(row["code"] for row in before["ticket"])
    shown = [world.show(code) for code in codes]
    names = {n for t in shown for m in t["messages"] for n in m["attachments"]}
    assert {"extracto banco nº 11.pdf", "guia-htaccess.txt"} <= names


def test_any_command_creates_a_new_database_that_db_current_reports(world: World) -> None:
    rc, out, err = world.cli("db", "current")
    assert rc == 0, err
    assert "new database" in out and f"mailtickets {version('mailtickets')}: " in out
    rc, _, err = world.cli("tickets")
    assert rc == 0, err
    rc, out, _ = world.cli("db", "current")
    assert rc == 0 and out.splitlines()[0].endswith(f": {schema.head()}") and "up to date" in out


def test_a_newer_database_is_exit_2_with_one_line_and_no_traceback(world: World) -> None:
    db = world.tmp / "mt.db"
    database_at(db, "head")
    with closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    for command in (["tickets"], ["run", "--once"], ["db", "upgrade"]):
        rc, out, err = world.cli(*command)
        assert rc == 2 and out == "", (command, err)
        (line,) = err.strip().splitlines()
        assert "schema revision 9999 is newer than this mailtickets" in line, command
        assert str(world.config) in line and "upgrade mailtickets" in line
    rc, out, _ = world.cli("db", "current")
    assert rc == 0 and ": 9999" in out and "newer than this mailtickets" in out


def test_version_names_release_and_schema_without_a_config(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MAILTICKETS_CONFIG"}
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,  # no config.toml here
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"mailtickets {version('mailtickets')} (schema {schema.head()})\n"


def test_help_opens_with_what_the_program_is() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--help"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0
    description = proc.stdout.split("\n\n")[1]
    assert description.startswith("Email-driven ticketing daemon") and "SPEC" not in description
    assert "db" in proc.stdout and "--version" in proc.stdout
