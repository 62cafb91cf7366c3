"""`report --html`: one self-contained page, charts drawn by matplotlib as inline SVG.

Nothing on the page is fetched: the CSS is inline and each chart is an <svg> element with
its text drawn as paths, so the page reads the same offline and in a mail attachment.
Every figure cell carries `data-key` and `data-value` (the JSON value) for scripts and tests.
"""

from __future__ import annotations

import html
import io
import logging
import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from mailtickets.errors import PermanentError
from mailtickets.report import Report
from mailtickets.report_figures import columns
from mailtickets.report_format import headline, shown, value
from mailtickets.report_story import BANDS, Row, Value

if TYPE_CHECKING:
    from matplotlib.figure import Figure

INSTALL_HINT = "--html needs matplotlib: pip install 'mailtickets[reports]'"
CHARTS = ("first-response-by-day", "backlog-by-age", "tickets-by-department")
COLOURS = ("#2f6db5", "#e08a2c", "#4f9d55", "#b8433f", "#7c5fb0", "#8c8c8c")

STYLE = """
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
p.period { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 1em 0 2em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.3em 0.8em; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th[scope=row] { text-align: left; font-weight: normal; }
thead th { border-bottom: 2px solid #888; }
figure { margin: 1em 0 2em; }
figcaption { font-weight: bold; margin-bottom: 0.4em; }
figure svg { max-width: 100%; height: auto; }
"""


def require_matplotlib() -> None:
    """Fail early, in one line, where the optional extra is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise PermanentError(INSTALL_HINT) from None


def page(report: Report) -> str:
    """The whole page."""
    title = html.escape(headline(report))
    charts = [
        _figure(CHARTS[0], "First response by day (business minutes)", _by_day(report)),
        _figure(CHARTS[1], "Backlog by age at the period's end", _backlog(report)),
        _figure(CHARTS[2], "Tickets by department", _by_department(report)),
    ]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f"<title>Support report {report.period.first_day} to {report.period.last_day}</title>",
            f"<style>{STYLE}</style></head><body>",
            "<h1>Support report</h1>",
            f'<p class="period">{title}</p>',
            '<section id="charts">',
            *charts,
            "</section>",
            _figures_table(report),
            _staff_table(report),
            '<p class="definitions">Every figure is defined in docs/reports.md of mailtickets.</p>',
            "</body></html>",
        ]
    )


def _cell(row: Row, key: str, kind: str, **data: str) -> str:
    found = value(row, key)
    attrs = "".join(f' data-{k}="{html.escape(v)}"' for k, v in data.items())
    raw = html.escape(_raw(found))
    return f'<td data-key="{key}" data-value="{raw}"{attrs}>{html.escape(shown(found, kind))}</td>'


def _raw(found: Value) -> str:
    """The JSON value as text: "" for null."""
    return "" if found is None else str(found)


def _figures_table(report: Report) -> str:
    rows = [*report.departments, report.total] if not report.department else [report.total]
    head = "".join(f'<th scope="col">{html.escape(str(r["name"]))}</th>' for r in rows)
    body = []
    for column in columns():
        cells = "".join(_cell(r, column.key, column.kind, name=str(r["name"])) for r in rows)
        body.append(
            f'<tr data-key="{column.key}"><th scope="row">{html.escape(column.heading)}</th>'
            f"{cells}</tr>"
        )
    return (
        '<table id="departments"><thead><tr><th scope="col">figure</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _staff_table(report: Report) -> str:
    cols = columns(per_staff=True)
    head = "".join(f'<th scope="col">{html.escape(c.heading)}</th>' for c in cols)
    body = []
    for r in report.staff:
        email = str(r["email"])
        cells = "".join(_cell(r, c.key, c.kind, email=email) for c in cols)
        body.append(
            f'<tr data-email="{html.escape(email)}"><th scope="row">'
            f"{html.escape(str(r['name']))} &lt;{html.escape(email)}&gt;</th>{cells}</tr>"
        )
    if not body:
        body.append(
            f'<tr><td colspan="{len(cols) + 1}">No first responses in the period.</td></tr>'
        )
    return (
        '<table id="staff"><thead><tr><th scope="col">staff</th>'
        f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _figure(name: str, caption: str, svg: str) -> str:
    return (
        f'<figure id="chart-{name}" data-chart="{name}">'
        f"<figcaption>{html.escape(caption)}</figcaption>{svg}</figure>"
    )


# --- the charts ------------------------------------------------------------------------------


def _integers(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))


def _new_figure() -> Figure:
    # Its font cache is built once per user, logged at INFO: not news for a report's reader.
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.2), dpi=96, layout="constrained")
    FigureCanvasAgg(figure)  # the Agg canvas: no display, whatever MPLBACKEND says
    return figure


def _svg(figure: Figure, prefix: str) -> str:
    """The figure as an <svg> element whose ids are its own (several share one page)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": prefix}):
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    return re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)


def _day_label(day: date) -> str:
    return f"{day:%a} {day.day}"


def _by_day(report: Report) -> str:
    figure = _new_figure()
    axes = figure.subplots()
    days = [date.fromisoformat(str(d["date"])) for d in report.days]
    medians = [d["first_response_median_minutes"] for d in report.days]
    p90s = [d["first_response_p90_minutes"] for d in report.days]
    positions = list(range(len(days)))
    for x, day, median, p90, counted in zip(
        positions, days, medians, p90s, (d["first_responses"] for d in report.days), strict=True
    ):
        if isinstance(median, int | float):
            (bar,) = axes.bar([x], [median], color=COLOURS[0], width=0.7)
            bar.set_gid(f"bar-median-{day.isoformat()}")
            top = max(median, p90) if isinstance(p90, int | float) else median
            axes.annotate(
                f"n={counted}",
                (x, top),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=8,
            )
        if isinstance(p90, int | float):
            axes.plot([x], [p90], marker="D", color=COLOURS[1], linestyle="none")
    _x_labels(axes, positions, [_day_label(d) for d in days])
    axes.set_ylabel("business minutes")
    axes.plot([], [], marker="D", color=COLOURS[1], linestyle="none", label="90th percentile")
    axes.bar([], [], color=COLOURS[0], label="median")
    axes.legend(loc="upper left", fontsize=8)
    if not any(isinstance(m, int | float) for m in medians):
        _nothing(axes, "no first responses in the period")
    return _svg(figure, "c1")


def _backlog(report: Report) -> str:
    figure = _new_figure()
    axes = figure.subplots()
    rows = list(report.departments) if not report.department else [report.total]
    keys = [band.key for band in BANDS]
    bottoms = [0] * len(keys)
    for n, row in enumerate(rows):
        counts = [_int(value(row, f"backlog_by_age.{k}")) for k in keys]
        bars = axes.bar(
            keys, counts, bottom=bottoms, color=COLOURS[n % len(COLOURS)], label=str(row["name"])
        )
        for key, bar in zip(keys, bars, strict=True):
            bar.set_gid(f"bar-backlog-{n}-{key}")
        bottoms = [b + c for b, c in zip(bottoms, counts, strict=True)]
    for x, total in enumerate(bottoms):
        axes.annotate(str(total), (x, total), ha="center", va="bottom", fontsize=9)
    _x_labels(axes, list(range(len(keys))), [band.label for band in BANDS])
    axes.set_ylabel("open tickets")
    _integers(axes)
    axes.legend(loc="upper right", fontsize=8)
    return _svg(figure, "c2")


def _by_department(report: Report) -> str:
    figure = _new_figure()
    axes = figure.subplots()
    rows = list(report.departments)
    series = (("opened", COLOURS[0]), ("closed", COLOURS[2]), ("backlog", COLOURS[1]))
    width = 0.8 / len(series)
    for n, (key, colour) in enumerate(series):
        xs = [i + (n - 1) * width for i in range(len(rows))]
        counts = [_int(value(r, key)) for r in rows]
        bars = axes.bar(xs, counts, width=width, color=colour, label=key)
        for row, bar in zip(rows, bars, strict=True):
            bar.set_gid(f"bar-{key}-{rows.index(row)}")
    _x_labels(axes, list(range(len(rows))), [str(r["name"]) for r in rows])
    axes.set_ylabel("tickets")
    _integers(axes)
    axes.legend(loc="upper right", fontsize=8)
    return _svg(figure, "c3")


def _x_labels(axes: Any, positions: Sequence[int], labels: Sequence[str]) -> None:
    """Labels under the bars, turned when there are many (a month of days); the y axis
    starts at zero and shows at least one unit, so an empty chart is not a band of -0.04."""
    axes.set_xticks(list(positions), list(labels))
    axes.tick_params(axis="x", labelsize=8, labelrotation=60 if len(labels) > 10 else 0)
    axes.set_ylim(bottom=0, top=max(1.0, axes.get_ylim()[1] * 1.15))


def _nothing(axes: Any, text: str) -> None:
    axes.text(0.5, 0.5, text, transform=axes.transAxes, ha="center", va="center", color="#888")


def _int(found: Value) -> int:
    return found if isinstance(found, int) else 0
