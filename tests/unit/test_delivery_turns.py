"""Processing and delivery taking turns during a backlog (daemon.DeliveryTurns), on a fake clock."""

from __future__ import annotations

from mailtickets.daemon import DeliveryTurns


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_delivery_is_due_after_a_second_of_processing_and_lasts_as_long_at_most() -> None:
    clock = Clock()
    turns = DeliveryTurns(1.0, clock)
    clock.now += 0.9
    assert not turns.delivery_due()
    clock.now += 0.6  # 1.5 s of processing
    assert turns.delivery_due()
    go_on = turns.delivering()
    clock.now += 1.4
    assert go_on()
    clock.now += 0.2  # 1.6 s of delivery: past the 1.5 s processing took
    assert not go_on()
    turns.delivered(all_taken=True)
    assert not turns.delivery_due()  # the next second of processing counts from here
    clock.now += 1.0
    assert turns.delivery_due()


def test_after_a_relay_that_took_not_everything_delivery_waits_for_the_cycle_s_own() -> None:
    clock = Clock()
    turns = DeliveryTurns(1.0, clock)
    clock.now += 2
    turns.delivering()
    turns.delivered(all_taken=False)  # down, or 4xx: no connection attempt every second
    clock.now += 60
    assert not turns.delivery_due()
