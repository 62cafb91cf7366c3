"""`mailtickets run` as ops run it: a long-lived process, IDLE, SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

from tests.conftest import World, eml


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
