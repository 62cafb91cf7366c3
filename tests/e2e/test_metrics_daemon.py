"""The metrics endpoint of a running `mailtickets run` (issue 10 point 6), scraped over HTTP:
mail by outcome, SMTP results, the first staff answer's time, outbox and mailbox gauges,
and no ticket code or address in any label."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import World, eml
from tests.servers import free_port

ANA = "ana.garcia@hostingejemplo.es"
CODE = re.compile(r"SOP-[A-Z0-9]{6}")
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(url, timeout=5) as response:
        text = response.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def wait_for(url: str, done: Callable[[Samples], bool], seconds: float = 60.0) -> Samples:
    deadline = time.monotonic() + seconds
    last: Samples = {}
    while time.monotonic() < deadline:
        try:
            last = scrape(url)
        except OSError:  # not listening yet
            last = {}
        if last and done(last):
            return last
        time.sleep(0.2)
    raise AssertionError(f"metrics never showed it: {sorted(last.items())[:40]}")


def test_a_running_daemon_serves_its_figures_without_codes_or_addresses(world: World) -> None:
    port = free_port()
    text = world.config.read_text() + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n'
    world.config.write_text(text)
    url = f"http://127.0.0.1:{port}/metrics"
    world.deliver(eml("new-gmail-plain.eml"))
    cmd = [sys.executable, "-m", "mailtickets", "--config", str(world.config), "run"]
    log = world.tmp / "run.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
    try:
        first = wait_for(
            url,
            lambda s: value(s, "mailtickets_smtp_results_total", **{"class": "sent"}) >= 2,
        )
        assert value(first, "mailtickets_messages_total", outcome="done") == 1
        assert value(first, "mailtickets_database_up") == 1
        assert value(first, "mailtickets_mailbox_last_fetch_timestamp_seconds", mailbox="default")
        # The staff member answers from the mail client: the first response is observed.
        notice = world.sink.to(ANA)[0]
        code = CODE.search(str(notice.message["Subject"]))
        assert code is not None
        reply = eml(
            "staff-reply-thunderbird.eml",
            code=code.group(0),
            notice_message_id=str(notice.message["Message-ID"]),
        )
        world.deliver(reply)
        second = wait_for(
            url,
            lambda s: (
                value(s, "mailtickets_first_response_seconds_count", department="Hosting") == 1
            ),
        )
        assert value(second, "mailtickets_messages_total", outcome="done") == 2
        assert value(second, "mailtickets_smtp_results_total", **{"class": "sent"}) >= 3
        assert value(second, "mailtickets_first_response_seconds_sum", department="Hosting") > 0
        labels = {v for (_, pairs) in second for _, v in pairs}
        assert not [v for v in labels if "@" in v or CODE.search(v)], labels
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log.read_text()[-2000:]
