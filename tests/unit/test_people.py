"""Recipient lists are computed, never hard-coded."""

from mailtickets.people import (
    Recipients,
    admit_participants,
    customer_recipients,
    new_participants,
    staff_recipients,
)

OURS = frozenset({"soporte@hostingejemplo.es", "facturacion@hostingejemplo.es"})


def test_requester_then_notify_contacts_then_participants_without_duplicates() -> None:
    got = customer_recipients(
        "ana@cliente.es", ["jefe@cliente.es", "ana@cliente.es"], ["socio@cliente.es"], OURS
    )
    assert got == Recipients(("ana@cliente.es", "jefe@cliente.es"), ("socio@cliente.es",))
    assert got.everyone == ("ana@cliente.es", "jefe@cliente.es", "socio@cliente.es")


def test_our_addresses_and_the_excluded_sender_are_never_recipients() -> None:
    got = customer_recipients(
        "ana@cliente.es",
        ["soporte@hostingejemplo.es"],
        ["socio@cliente.es"],
        OURS,
        exclude=["SOCIO@cliente.es"],
    )
    assert got == Recipients(("ana@cliente.es",), ())


def test_a_participant_who_is_also_an_authorised_contact_is_told_once_as_the_account() -> None:
    got = customer_recipients("ana@cliente.es", ["jefe@cliente.es"], ["jefe@cliente.es"], OURS)
    assert got == Recipients(("ana@cliente.es", "jefe@cliente.es"), ())


def test_staff_notice_goes_to_the_assignee_alone_when_there_is_one() -> None:
    assert staff_recipients(["a@x.es", "b@x.es"], None) == ("a@x.es", "b@x.es")
    assert staff_recipients(["a@x.es", "b@x.es"], "b@x.es") == ("b@x.es",)
    assert staff_recipients(["a@x.es", "b@x.es"], None, exclude=["a@x.es"]) == ("b@x.es",)


def test_participants_are_copied_customers_never_our_addresses_or_staff() -> None:
    got = new_participants(
        ["soporte@hostingejemplo.es"],
        ["facturacion@hostingejemplo.es", "socia@cliente.es", "ana@hostingejemplo.es"],
        OURS,
        frozenset({"ana@hostingejemplo.es"}),
    )
    assert got == ("socia@cliente.es",)


def test_copied_addresses_are_capped_per_mail_and_per_ticket() -> None:
    many = [f"extra{i}@otro.example" for i in range(500)]
    got = admit_participants(many, [], frozenset(), True, per_mail=5, per_ticket=10)
    assert got.added == tuple(many[:5])
    assert len(got.refused) == 495 and {why for _, why in got.refused} == {"cap"}
    full = [f"p{i}@otro.example" for i in range(8)]
    got = admit_participants(many[:5], full, frozenset(), True, per_mail=5, per_ticket=10)
    assert got.added == tuple(many[:2])


def test_an_unverified_mail_brings_in_only_the_customers_own_contacts() -> None:
    got = admit_participants(
        ["socia@cliente.es", "marcos@competidor.example"],
        [],
        frozenset({"socia@cliente.es"}),
        verified=False,
        per_mail=5,
        per_ticket=10,
    )
    assert got.added == ("socia@cliente.es",)
    assert got.refused == (("marcos@competidor.example", "unverified"),)


def test_existing_participants_are_neither_added_again_nor_refused() -> None:
    got = admit_participants(["a@x.es"], ["a@x.es"], frozenset(), False, 5, 10)
    assert got.added == () and got.refused == ()
