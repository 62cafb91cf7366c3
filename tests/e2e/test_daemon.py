"""`mailtickets run` as ops run it: a long-lived process, IDLE, SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import DATA, World, eml


def wait_for(condition: object, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.05)
    return False


def test_daemon_answers_new_mail_via_idle_and_stops_cleanly_on_sigterm(world: World) -> None:
    text = world.config.read_text().replace('poll_interval = "1s"', 'poll_interval = "5m"')
    world.config.write_text(text)  # only IDLE can make it notice the mail in time
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(world.tmp / "notify.sock"))  # stands in for systemd's notify socket
    systemd.settimeout(20)
    env = {**os.environ, "NOTIFY_SOCKET": str(world.tmp / "notify.sock")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert wait_for(lambda: proc.poll() is None and world.tickets() == [], 10)
        time.sleep(1.0)  # let it settle into IDLE
        world.deliver(eml("new-gmail-plain.eml"))
        assert wait_for(lambda: len(world.sink.to("laura.martinez@gmail.com")) == 1, 15)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    assert "mailtickets stopped" in err and "Traceback" not in err
    states = []
    with systemd:
        systemd.settimeout(0.5)
        while True:
            try:
                states.append(systemd.recv(100).decode())
            except TimeoutError:
                break
    assert states[0] == "READY=1" and "WATCHDOG=1" in states and states[-1] == "STOPPING=1"


OUTLOOK = "articles/configurar-outlook-sin-plan.eml"
ROSA = "rosa.gil.tienda@gmail.com"
TITLE = "¿Cómo configuro mis cuentas de email en un gestor de correo?"
RENAMED = "¿Cómo configuro el correo en Outlook o Thunderbird?"


def test_sighup_reads_the_articles_again_and_keeps_them_when_one_is_broken(
    world: World,
) -> None:
    articles = world.tmp / "articles"
    shutil.copytree(DATA / "articles", articles, ignore=shutil.ignore_patterns("*.eml"))
    text = world.config.read_text()
    company = 'company_name = "Hosting Ejemplo"\n'
    assert company in text
    world.config.write_text(text.replace(company, f'{company}articles_dir = "{articles}"\n'))
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def ask(n: int) -> str:
        """The acknowledgement of the n-th copy of the same question."""
        raw = eml(OUTLOOK).replace(b"rosa-outlook-imap@", f"rosa-outlook-imap-{n}@".encode())
        world.deliver(raw)
        assert wait_for(lambda: len(world.sink.to(ROSA)) == n, 20)
        return world.sink.to(ROSA)[-1].text

    try:
        assert f"Quizá le sirva: {TITLE}" in ask(1)
        manager = articles / "configurar-gestor-de-correo.md"
        manager.write_text(manager.read_text(encoding="utf-8").replace(TITLE, RENAMED), "utf-8")
        proc.send_signal(signal.SIGHUP)
        assert f"Quizá le sirva: {RENAMED}" in ask(2)
        (articles / "roto.md").write_text("+++\ntitle = \n+++\nSin cerrar", "utf-8")
        proc.send_signal(signal.SIGHUP)
        assert f"Quizá le sirva: {RENAMED}" in ask(3)  # the articles read before stay
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err[-2000:]
    reread = [line for line in err.splitlines() if "SIGHUP: " in line and "articles" in line]
    assert any("articles read again from" in line for line in reread), err[-2000:]
    (broken,) = [line for line in reread if "roto.md" in line]
    assert "articles read before stay in use" in broken
