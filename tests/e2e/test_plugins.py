"""A site extends mailtickets without editing it: a staff command from an installed plugin,
working on the real pipeline (Dovecot, SMTP sink, SQLite)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import World, eml
from tests.e2e.test_people import mail_from
from tests.plugins import build_wheel, install

ROOT = Path(__file__).resolve().parents[2]
ANA = "ana.garcia@hostingejemplo.es"
PLUGIN = """\
from mailtickets.commands import CommandSpec
from mailtickets.staff_commands import StaffCommand


def _label(argument, site):
    if not argument.isidentifier():
        raise ValueError(f"{argument!r} is not a label (letters, digits, _)")
    return argument.lower()


def _apply(work, ticket, command, actor):
    work.write.event(ticket, "label", actor, command.argument)
    return f"labelled {command.argument}"


LABEL = StaffCommand(
    CommandSpec("label", {"en": ("label",), "es": ("etiqueta",)}, "tag the ticket", _label),
    _apply,
)
CLASH = StaffCommand(CommandSpec("shut", {"es": ("cerrar",)}, "takes #cerrar"), _apply)
"""
ENTRY_POINTS = """\
[mailtickets.commands]
label = hosting_commands:LABEL
clash = hosting_commands:CLASH
gone = hosting_commands_missing:X
"""


def cli(world: World, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "mailtickets", "--config", str(world.config), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_a_site_adds_a_staff_command_through_an_installed_plugin(world: World) -> None:
    target = world.tmp / "site-packages"
    modules = {"hosting_commands.py": PLUGIN}
    install(build_wheel(world.tmp, "hosting-commands", modules, ENTRY_POINTS), target)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), str(ROOT)])}

    world.deliver(eml("new-gmail-plain.eml"))
    rc, _, err = cli(world, env, "run", "--once")
    assert rc == 0, err
    (notice,) = world.sink.to(ANA)
    assert "#etiqueta" in notice.text  # the staff notice lists it, derived from the registry
    code = str(world.tickets()[0]["code"])

    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#etiqueta DNS_caido\n#nota\nMirado."))
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#etiqueta no-vale"))
    rc, _, err = cli(world, env, "run", "--once")
    assert rc == 0, err
    events = world.show(code)["events"]
    assert [e["detail"] for e in events if e["kind"] == "label"] == ["dns_caido"]
    refused = world.sink.to(ANA)[-1]
    assert "no-vale" in refused.text and "not a label" in refused.text
    # The broken and clashing plugins are named once each in the log, and skipped.
    assert sum("clash" in line and "already taken" in line for line in err.splitlines()) == 1
    assert sum("gone" in line and "cannot load" in line for line in err.splitlines()) == 1
    world.deliver(mail_from(ANA, f"Re: [{code}] x", "#cerrar\nResuelto."))
    rc, _, err = cli(world, env, "run", "--once")
    assert rc == 0 and world.show(code)["status"] == "closed"  # the built-in, not the clash
