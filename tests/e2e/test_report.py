"""`mailtickets report` on a history built through the real daemon, with a fake clock.

Customer mail goes into Dovecot with its arrival time, the daemon processes it at that
moment, staff answer by mail, `sweep --at` moves the reminder and auto-close timers, and
a customer's reply reopens a closed ticket. The report must then give what this history
implies, to the minute. Office hours Mon-Fri 10:00-18:00 in Madrid (UTC+1 in November);
Hosting's first-response SLA is 30 min, Facturación's 1 h, Dominios has none. The period
is Mon 23 - Mon 30 November 2026 (local midnights: 22 Nov 23:00 UTC to 30 Nov 23:00 UTC).

The history, Madrid time (first responses in business minutes). Every cycle runs the
timers due at its clock, as `run --once` does, and so does each `sweep --at`:

    G  Dominios     Mon 16 10:00  opened by Rafael; never answered (backlog, 7 days or more)
    F  Hosting      Thu 19 10:00  opened by Carmen; Ana answers 11:00 (before the period);
                                  reminded in the cycle of Mon 23 10:00, closed automatically
                                  in the cycle of Tue 24 16:00
    A  Hosting      Mon 23 10:00  opened by Laura; Ana's note 10:05 and out-of-office 10:10
                                  (neither an answer); Ana answers 10:20: 20 min; reminded by
                                  the sweep of Wed 25 10:30, closed by the sweep of Thu 26 10:31
    D  Dominios     Tue 24 16:00  opened by Miguel; Pablo answers 17:00 (his mail's Date
                                  says 16:05): 60 min; Miguel replies Wed 25 12:00 (open
                                  again, no reminder)
    B  Hosting      Thu 26 17:40  opened by John; Ana's "#prioridad alta" alone Fri 10:00
                                  (no answer); Ana answers Fri 10:30: 20 + 30 = 50 min,
                                  after the 10:10 deadline (SLA breach); John closes it with
                                  #cerrar Fri 11:00 and reopens it with a reply Mon 30 11:00
    C  Facturación  Sat 28 12:00  opened by José; Pablo answers and closes Mon 30 10:45: 45 min
    H  Dominios     Sat 28 20:00  opened by Lucía; unanswered (backlog, 1 to 3 days)
    E  Hosting      Mon 30 15:00  opened by Iván; unanswered past 15:30 (SLA breach)
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from email.utils import format_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.browser import dump_dom, read_png, screenshot
from tests.conftest import World, eml, write_config
from tests.servers import Dovecot, Postgres, SmtpSink

MADRID = ZoneInfo("Europe/Madrid")
ANA = "ana.garcia@hostingejemplo.es"
PABLO = "pablo.ruiz@hostingejemplo.es"
JOHN = "John Smith <john.smith@example.co.uk>"
PERIOD = ("--from", "2026-11-23", "--to", "2026-11-30")
SLA = {"Hosting": '"30m"', "Facturación": '"1h"'}


def madrid(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=MADRID)


class Timeline:
    """The world with its clock: each mail arrives and is processed at a given moment."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.mails = 0

    def arrive(self, raw: bytes, when: datetime, fires: tuple[str, ...] = ()) -> str:
        """Deliver `raw` as arriving at `when`, run one cycle at `when` (whose timers fire
        `fires`: "kind CODE" each); the mail's ticket code."""
        self.world.deliver(raw, when=when)
        cycle = self.world.cycle(clock=lambda: when)
        assert not cycle.errors, cycle.errors
        assert [r.state for r in cycle.results] == ["done"], cycle.results
        assert sorted(f"{f.kind} {f.code}" for f in cycle.fired) == sorted(fires)
        return cycle.results[0].ticket_code

    def _template(self, name: str, when: datetime, **fields: str) -> bytes:
        self.mails += 1
        return eml(f"report/{name}", n=str(self.mails), date=format_datetime(when), **fields)

    def answer(
        self, code: str, staff: str, text: str, when: datetime, written: datetime | None = None
    ) -> None:
        """A staff answer processed at `when`; its Date header says `written` (default the
        same): the sender's clock, which the report does not go by."""
        raw = self._template("staff-answer.eml", written or when, staff=staff, code=code, text=text)
        assert self.arrive(raw, when) == code

    def reply(self, code: str, customer: str, text: str, when: datetime) -> None:
        raw = self._template("customer-reply.eml", when, customer=customer, code=code, text=text)
        assert self.arrive(raw, when) == code

    def staff_mail(self, name: str, code: str, when: datetime) -> None:
        assert self.arrive(self._template(name, when, code=code), when) == code

    def sweep(self, when: datetime) -> list[str]:
        rc, out, err = self.world.cli("sweep", "--at", when.isoformat())
        assert rc == 0, err
        return sorted(line.split()[0] + " " + line.split()[1] for line in out.splitlines()[:-1])


def build_history(site: Timeline) -> dict[str, str]:
    """The history of the module docstring; the ticket codes by letter."""
    codes = {"G": site.arrive(eml("report/new-dominios-long-open.eml"), madrid(16, 10))}
    f = codes["F"] = site.arrive(eml("report/new-hosting-before-period.eml"), madrid(19, 10))
    site.answer(f, ANA, "Ya se ven las imágenes: era la caché.", madrid(19, 11))
    a = codes["A"] = site.arrive(eml("new-gmail-plain.eml"), madrid(23, 10), (f"reminder {f}",))
    site.staff_mail("staff-note.eml", a, madrid(23, 10, 5))
    site.staff_mail("staff-out-of-office.eml", a, madrid(23, 10, 10))
    site.answer(a, ANA, "Revisa que el puerto SMTP sea el 465 con SSL.", madrid(23, 10, 20))
    mail = eml("new-thunderbird-windows1252.eml")
    d = codes["D"] = site.arrive(mail, madrid(24, 16), (f"autoclose {f}",))
    # Pablo wrote it at 16:05 and it reached the mailbox at 17:00 (left in his outbox).
    site.answer(d, PABLO, "Se renueva solo el día 2.", madrid(24, 17), madrid(24, 16, 5))
    assert site.sweep(madrid(25, 10, 30)) == [f"reminder {a}"]
    site.reply(d, "miguel@tallerhernandez.es", "¿Y el certificado también?", madrid(25, 12))
    assert site.sweep(madrid(26, 10, 31)) == [f"autoclose {a}"]
    b = codes["B"] = site.arrive(eml("new-english-plain.eml"), madrid(26, 17, 40))
    site.staff_mail("staff-command-only.eml", b, madrid(27, 10))  # relays nothing
    site.answer(b, ANA, "Ya está en marcha otra vez.", madrid(27, 10, 30))
    site.reply(b, JOHN, "#cerrar\nWorks now, thanks.", madrid(27, 11))
    c = codes["C"] = site.arrive(eml("new-outlook-latin1.eml"), madrid(28, 12))
    codes["H"] = site.arrive(eml("report/new-dominios-saturday.eml"), madrid(28, 20))
    site.answer(c, PABLO, "#cerrar\n\nHemos anulado la factura repetida.", madrid(30, 10, 45))
    site.reply(b, JOHN, "The website is down again.", madrid(30, 11))
    codes["E"] = site.arrive(eml("report/new-hosting-monday-unanswered.eml"), madrid(30, 15))
    return codes


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def history(
    request: pytest.FixtureRequest, dovecot: Dovecot, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[World, dict[str, str]]]:
    """One history per database, shared by the tests of this file (it takes a minute)."""
    tmp = tmp_path_factory.mktemp(f"report-{request.param}")
    cluster: Postgres | None = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'mt.db'}"
    else:
        cluster = request.getfixturevalue("postgres")
        url = cluster.create_database()
    sink = SmtpSink().start()
    try:
        user = dovecot.add_user()
        config = write_config(tmp / "config.toml", dovecot, user, sink, url)
        text = config.read_text()
        for department, sla in SLA.items():
            head = f'name = "{department}"\n'
            text = text.replace(head, f"{head}first_response = {sla}\n", 1)
        config.write_text(
            text + '\n[hours]\nweekly = "mon-fri 10:00-18:00"\n'
            'holidays_country = "ES"\nholidays_subdiv = "MD"\n'
        )
        world = World(dovecot, user, sink, config, tmp, url)
        yield world, build_history(Timeline(world))
    finally:
        sink.stop()
        if cluster is not None:
            cluster.drop_database(url)


def report_json(world: World, *args: str) -> dict[str, Any]:
    rc, out, err = world.cli("report", *PERIOD, "--json", *args)
    assert rc == 0, err
    return dict(json.loads(out))


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(r["name"]): r for r in rows}


# What the history implies, per department: counts, then business minutes.
EXPECTED: dict[str, dict[str, Any]] = {
    "Hosting": {
        "opened": 3,  # A, B, E
        "closed": 3,  # A and F automatically, B by John (his #cerrar, its last closing)
        "closed_automatically": 2,
        "closed_by_staff": 0,
        "closed_by_customer": 1,
        "closed_automatically_share": 0.6667,
        "reopened": 1,  # B
        "reopen_rate": 0.3333,
        "merged": 0,
        "first_responses": 2,  # A 20, B 50 (F's was before the period)
        "first_response_median_minutes": 35.0,
        "first_response_p90_minutes": 50.0,
        "sla_minutes": 30.0,
        "sla_breaches": 2,  # B answered after 10:10, E unanswered since 15:30
        # B Thu 17:40 to Fri 11:00 = 20 + 60; A Mon 10:00 to Thu 10:31 = 3 * 480 + 31;
        # F Thu 19 10:00 to Tue 24 16:00 = 3 * 480 + 360.
        "resolution_median_minutes": 1471.0,
        "resolution_p90_minutes": 1800.0,
        "backlog": 2,  # B (4 d 6 h old at the end), E (9 h)
        "backlog_by_age": {"under_1d": 1, "1d_to_3d": 0, "3d_to_7d": 1, "over_7d": 0},
        "ratings": 0,  # nobody rated a closing (tests/e2e/test_rating.py)
        "satisfaction_average": None,
        "satisfied_share": None,
    },
    "Facturación": {
        "opened": 1,
        "closed": 1,
        "closed_automatically": 0,
        "closed_by_staff": 1,
        "closed_by_customer": 0,
        "closed_automatically_share": 0.0,
        "reopened": 0,
        "reopen_rate": 0.0,
        "merged": 0,
        "first_responses": 1,  # C: Monday 10:00 to 10:45, the weekend not counted
        "first_response_median_minutes": 45.0,
        "first_response_p90_minutes": 45.0,
        "sla_minutes": 60.0,
        "sla_breaches": 0,
        "resolution_median_minutes": 45.0,
        "resolution_p90_minutes": 45.0,
        "backlog": 0,
        "backlog_by_age": {"under_1d": 0, "1d_to_3d": 0, "3d_to_7d": 0, "over_7d": 0},
        "ratings": 0,
        "satisfaction_average": None,
        "satisfied_share": None,
    },
    "Dominios": {
        "opened": 2,  # D, H
        "closed": 0,
        "closed_automatically": 0,
        "closed_by_staff": 0,
        "closed_by_customer": 0,
        "closed_automatically_share": None,
        "reopened": 0,
        "reopen_rate": None,
        "merged": 0,
        "first_responses": 1,  # D: 60
        "first_response_median_minutes": 60.0,
        "first_response_p90_minutes": 60.0,
        "sla_minutes": None,
        "sla_breaches": 0,
        "resolution_median_minutes": None,
        "resolution_p90_minutes": None,
        "backlog": 3,  # H 2 d 4 h, D 6 d 8 h, G 14 d 14 h
        "backlog_by_age": {"under_1d": 0, "1d_to_3d": 1, "3d_to_7d": 1, "over_7d": 1},
        "ratings": 0,
        "satisfaction_average": None,
        "satisfied_share": None,
    },
}
TOTAL = {
    "name": "all",
    "opened": 6,
    "closed": 4,
    "closed_automatically": 2,
    "closed_by_staff": 1,
    "closed_by_customer": 1,
    "closed_automatically_share": 0.5,
    "reopened": 1,
    "reopen_rate": 0.25,
    "merged": 0,
    "first_responses": 4,
    "first_response_median_minutes": 47.5,  # 20 45 | 50 60
    "first_response_p90_minutes": 60.0,
    "sla_minutes": None,
    "sla_breaches": 2,
    "resolution_median_minutes": 775.5,  # 45 80 | 1471 1800
    "resolution_p90_minutes": 1800.0,
    "backlog": 5,
    "backlog_by_age": {"under_1d": 1, "1d_to_3d": 1, "3d_to_7d": 2, "over_7d": 1},
    "ratings": 0,
    "satisfaction_average": None,
    "satisfied_share": None,
}
STAFF = [
    {
        "name": "Ana García",
        "email": ANA,
        "first_responses": 2,
        "first_response_median_minutes": 35.0,
        "first_response_p90_minutes": 50.0,
    },
    {
        "name": "Pablo Ruiz",
        "email": PABLO,
        "first_responses": 2,
        "first_response_median_minutes": 52.5,
        "first_response_p90_minutes": 60.0,
    },
]


def test_the_figures_are_what_the_history_implies_to_the_minute(
    history: tuple[World, dict[str, str]],
) -> None:
    world, codes = history
    statuses = dict(world.query("SELECT code, status FROM ticket"))
    assert {k: statuses[c] for k, c in codes.items()} == {
        "G": "new",
        "F": "closed",
        "A": "closed",
        "D": "open",
        "B": "open",
        "C": "closed",
        "H": "new",
        "E": "new",
    }
    data = report_json(world)
    assert list(data) == [
        "schema",
        "from",
        "to",
        "timezone",
        "start",
        "end",
        "as_of",
        "generated_at",
        "department",
        "departments",
        "total",
        "staff",
        "days",
    ]
    assert (data["from"], data["to"], data["timezone"]) == (
        "2026-11-23",
        "2026-11-30",
        "Europe/Madrid",
    )
    assert (data["start"], data["end"]) == (
        "2026-11-23T00:00:00+01:00",
        "2026-12-01T00:00:00+01:00",
    )
    assert data["as_of"] == data["end"] and data["department"] is None
    rows = by_name(data["departments"])
    assert list(rows) == ["Hosting", "Facturación", "Dominios"]
    for name, expected in EXPECTED.items():
        assert rows[name] == {"name": name, **expected}, name
    assert data["total"] == TOTAL
    assert data["staff"] == STAFF
    days = {d["date"]: d for d in data["days"]}
    assert list(days) == [f"2026-11-{d}" for d in range(23, 31)]
    assert {d: v["first_responses"] for d, v in days.items() if v["first_responses"]} == {
        "2026-11-23": 1,
        "2026-11-24": 1,
        "2026-11-27": 1,
        "2026-11-30": 1,
    }
    assert days["2026-11-27"]["first_response_median_minutes"] == 50.0
    assert {d: v["opened"] for d, v in days.items() if v["opened"]} == {
        "2026-11-23": 1,
        "2026-11-24": 1,
        "2026-11-26": 1,
        "2026-11-28": 2,
        "2026-11-30": 1,
    }
    assert {d: v["closed"] for d, v in days.items() if v["closed"]} == {
        "2026-11-24": 1,
        "2026-11-26": 1,
        "2026-11-27": 1,
        "2026-11-30": 1,
    }


def test_a_shorter_period_moves_every_boundary(history: tuple[World, dict[str, str]]) -> None:
    """Mon 23 - Fri 27: C, H, E and B's reopening are later; the backlog is Friday night's."""
    world, _codes = history
    rc, out, err = world.cli("report", "--from", "2026-11-23", "--to", "2026-11-27", "--json")
    assert rc == 0, err
    data = json.loads(out)
    hosting = by_name(data["departments"])["Hosting"]
    assert (hosting["opened"], hosting["closed"], hosting["reopened"]) == (2, 3, 0)
    assert hosting["sla_breaches"] == 1  # B; E's deadline is in the next period
    # At Sat 28 00:00: G and D open (Dominios), nothing in Hosting (B closed on Friday).
    assert data["total"]["backlog"] == 2
    assert data["total"]["backlog_by_age"] == {
        "under_1d": 0,
        "1d_to_3d": 0,
        "3d_to_7d": 1,
        "over_7d": 1,
    }


def test_one_department_named_without_accents_or_case(
    history: tuple[World, dict[str, str]],
) -> None:
    world, _codes = history
    data = report_json(world, "--department", "FACTURACION")
    assert data["department"] == "Facturación"
    assert [r["name"] for r in data["departments"]] == ["Facturación"]
    assert data["departments"][0] == {"name": "Facturación", **EXPECTED["Facturación"]}
    assert data["total"]["opened"] == 1 and data["total"]["backlog"] == 0
    assert [s["email"] for s in data["staff"]] == [PABLO]  # his answer to C only
    assert data["staff"][0]["first_response_median_minutes"] == 45.0


def test_csv_and_table_show_the_same_figures(history: tuple[World, dict[str, str]]) -> None:
    world, _codes = history
    rc, out, err = world.cli("report", *PERIOD, "--csv")
    assert rc == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["scope"], r["name"]) for r in rows] == [
        ("department", "Hosting"),
        ("department", "Facturación"),
        ("department", "Dominios"),
        ("all", "all"),
        ("staff", "Ana García"),
        ("staff", "Pablo Ruiz"),
    ]
    hosting = rows[0]
    assert (hosting["opened"], hosting["sla_breaches"], hosting["resolution_p90_minutes"]) == (
        "3",
        "2",
        "1800.0",
    )
    assert hosting["backlog_by_age.3d_to_7d"] == "1" and rows[2]["reopen_rate"] == ""
    assert rows[4]["email"] == ANA and rows[4]["first_response_median_minutes"] == "35.0"
    assert rows[4]["opened"] == ""  # a staff row has the per-staff figures only

    rc, out, err = world.cli("report", *PERIOD)
    assert rc == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("Support report 2026-11-23 to 2026-11-30 (Europe/Madrid)")
    # "heading  value  value ...": headings have single spaces, columns two or more.
    cells = [re.split(r"\s{2,}", line.strip()) for line in lines[3:] if line.strip()]
    table = {c[0]: c[1:] for c in cells}
    assert table["first response median"] == ["35.0", "45.0", "60.0", "47.5"]
    assert table["share closed automatically"] == ["67%", "0%", "-", "50%"]
    assert table["SLA breaches"] == ["2", "0", "0", "2"]
    assert any(line.startswith("Pablo Ruiz <pablo.ruiz@hostingejemplo.es>") for line in lines)


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (("--from", "2026-02-30"), "--from '2026-02-30': write a day as YYYY-MM-DD"),
        (("--to", "30/11/2026"), "--to '30/11/2026': write a day as YYYY-MM-DD"),
        (("--from", "2026-12-01", "--to", "2026-11-30"), "--from 2026-12-01 is after --to"),
        (("--department", "Ventas"), "--department 'Ventas': no such department; there are:"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(
    history: tuple[World, dict[str, str]], args: tuple[str, ...], names: str
) -> None:
    world, _codes = history
    rc, out, err = world.cli("report", *args)
    lines = [line for line in err.splitlines() if "mailtickets.schema" not in line]
    assert (rc, out, len(lines)) == (2, "", 1), err
    assert names in lines[0] and "Traceback" not in err


def test_html_without_matplotlib_says_what_to_install(
    history: tuple[World, dict[str, str]], tmp_path: Path
) -> None:
    world, _codes = history
    # As if the extra were not installed: the import of matplotlib fails.
    script = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from mailtickets.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    page = tmp_path / "r.html"
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            script,
            "--config",
            str(world.config),
            "report",
            "--html",
            str(page),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and not page.exists()
    assert proc.stderr.strip().splitlines() == [
        "mailtickets: --html needs matplotlib: pip install 'mailtickets[reports]'"
    ]


class PageCells(HTMLParser):
    """What a test reads of the page's DOM: figure cells, charts and what they draw."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: dict[tuple[str, str], str] = {}  # (row name or email, key) → data-value
        self.charts: dict[str, list[str]] = {}  # chart → ids of the SVG elements in it
        self.remote: list[str] = []  # anything that would be fetched
        self._chart = ""
        self._depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "td" and "data-key" in a:
            self.cells[(a.get("data-name") or a["data-email"], a["data-key"])] = a["data-value"]
        if tag == "figure" and "data-chart" in a:
            self._chart = a["data-chart"]
            self.charts[self._chart] = []
        elif self._chart:
            self.charts[self._chart].append(f"{tag}#{a.get('id', '')}")
        for name in ("src", "href", "xlink:href"):
            if a.get(name, "#").split("#")[0]:
                self.remote.append(f"{tag} {name}={a[name]}")
        if tag == "link":
            self.remote.append("link")

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._chart = ""


def test_the_page_in_chromium_has_the_charts_and_the_json_figures(
    history: tuple[World, dict[str, str]], tmp_path: Path
) -> None:
    world, _codes = history
    page = tmp_path / "report.html"
    rc, _out, err = world.cli("report", *PERIOD, "--html", str(page))
    assert rc == 0, err
    data = report_json(world)

    shot = read_png(screenshot(page, tmp_path / "report.png"))
    assert (shot.width, shot.height) == (1200, 2000)
    assert shot.colours > 50  # charts in several colours, not a blank or an error page

    dom = PageCells()
    dom.feed(dump_dom(page))
    assert dom.remote == []
    assert set(dom.charts) == {"first-response-by-day", "backlog-by-age", "tickets-by-department"}
    drawn = {chart: " ".join(ids) for chart, ids in dom.charts.items()}
    assert all("svg#" in ids for ids in drawn.values())
    # The bars drawn are those of the figures: a median bar on each day with answers ...
    for day in data["days"]:
        bar = f"c1-bar-median-{day['date']}"
        assert (bar in drawn["first-response-by-day"]) == bool(day["first_responses"]), day
    # ... a backlog bar per band and department, and three bars per department.
    for n in range(3):
        for band in ("under_1d", "1d_to_3d", "3d_to_7d", "over_7d"):
            assert f"c2-bar-backlog-{n}-{band}" in drawn["backlog-by-age"]
        for key in ("opened", "closed", "backlog"):
            assert f"c3-bar-{key}-{n}" in drawn["tickets-by-department"]

    # Every figure cell of the page holds the JSON's value.
    expected: dict[tuple[str, str], Any] = {}
    for row in [*data["departments"], data["total"]]:
        for key, found in row.items():
            if isinstance(found, dict):
                expected |= {(row["name"], f"{key}.{k}"): v for k, v in found.items()}
            elif key != "name":
                expected[(row["name"], key)] = found
    for row in data["staff"]:
        expected |= {(row["email"], k): v for k, v in row.items() if k not in ("name", "email")}
    shown = {where: json.loads(raw) if raw else None for where, raw in dom.cells.items()}
    assert shown == expected
