"""outbox.lanes: a batch split among connections, each ticket's mail on one, in order."""

from __future__ import annotations

from mailtickets.outbox import lanes


def test_each_tickets_mail_stays_on_one_connection_in_claim_order() -> None:
    tickets = [7, 7, 9, 3, 9, 7, 3, 11]
    split = lanes(tickets, 2)
    assert len(split) == 2
    assert sorted(p for lane in split for p in lane) == list(range(len(tickets)))
    for lane in split:
        assert lane == sorted(lane)  # claim order kept
    lane_of = {tickets[p]: n for n, lane in enumerate(split) for p in lane}
    for position, ticket in enumerate(tickets):
        assert position in split[lane_of[ticket]]


def test_a_ticket_keeps_its_connection_from_batch_to_batch() -> None:
    # Ticket ids run in sequence, so taking them modulo the connections also spreads them.
    assert lanes([1, 2, 3, 4, 1], 2) == [[1, 3], [0, 2, 4]]
    assert lanes([4, 1], 2) == [[0], [1]]
    assert lanes([1, 1], 2) == [[], [0, 1]]  # a lane may be empty: the connection waits
    assert lanes([1, 2, 3], 3) == [[2], [0], [1]]


def test_mail_of_no_ticket_spreads() -> None:
    assert lanes([None, None, None], 2) == [[0, 2], [1]]
    assert lanes([2, None, 4], 2) == [[0, 2], [1]]
    assert lanes([5, 5, 5], 3) == [[], [], [0, 1, 2]]
    assert lanes([], 2) == [[], []]
    assert lanes([4, 8], 0) == [[0, 1]]
