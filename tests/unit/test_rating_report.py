"""The report's satisfaction figure on hand-made ratings (pure), and how it reads."""

from __future__ import annotations

from mailtickets.report import Report, build_report
from mailtickets.report_figures import columns
from mailtickets.report_format import csv_text, shown, text_table
from mailtickets.report_story import History, Score
from tests.unit.test_report import SITE, WEEK, hosting, madrid, ticket

TICKETS = (
    ticket(1, madrid(20, 10)),  # opened before the period: its rating in it still counts
    ticket(2, madrid(23, 10)),
    ticket(3, madrid(23, 11)),
    ticket(4, madrid(24, 10), "Dominios"),
)


def report_of(*ratings: Score) -> Report:
    return build_report(History(TICKETS, (), (), tuple(ratings)), SITE, WEEK)


def test_ratings_recorded_in_the_period_count_per_department_and_in_all() -> None:
    result = report_of(
        Score(1, madrid(23, 12), 5),
        Score(2, madrid(24, 9), 4),
        Score(3, madrid(25, 9), 2),
        Score(3, madrid(30, 0, 0), 5),  # a second closing of 3, rated after the period
        Score(4, madrid(22, 23, 59), 1),  # before the period
        Score(4, madrid(29, 23, 59), 3),
    )
    row = hosting(result)
    assert (row["ratings"], row["satisfaction_average"], row["satisfied_share"]) == (
        3,
        3.67,  # (5 + 4 + 2) / 3, two decimals
        0.6667,  # 5 and 4 of three
    )
    dominios = result.departments[1]
    assert (dominios["ratings"], dominios["satisfaction_average"]) == (1, 3.0)
    assert dominios["satisfied_share"] == 0.0
    total = result.total
    assert (total["ratings"], total["satisfaction_average"], total["satisfied_share"]) == (
        4,
        3.5,
        0.5,
    )
    # Not a per-staff figure: a rating is of the ticket's closing, not of one answer.
    assert "ratings" not in {c.key for c in columns(per_staff=True)}


def test_no_ratings_is_zero_with_nothing_to_average() -> None:
    row = hosting(report_of())
    assert (row["ratings"], row["satisfaction_average"], row["satisfied_share"]) == (0, None, None)


def test_the_table_and_csv_show_the_satisfaction_columns() -> None:
    result = report_of(Score(2, madrid(24, 9), 4), Score(3, madrid(25, 9), 5))
    lines = text_table(result).splitlines()
    assert any(line.split()[:2] == ["ratings", "2"] for line in lines)
    average = next(line for line in lines if line.startswith("satisfaction average"))
    assert average.split()[2:] == ["4.50", "-", "4.50"]
    share = next(line for line in lines if line.startswith("share rated 4 or 5"))
    assert share.split()[5:] == ["100%", "-", "100%"]
    header, hosting_row = csv_text(result).splitlines()[:2]
    keys = header.split(",")
    assert keys[-3:] == ["ratings", "satisfaction_average", "satisfied_share"]
    assert hosting_row.split(",")[-3:] == ["2", "4.5", "1.0"]
    assert shown(None, "average") == "-" and shown(4.0, "average") == "4.00"
