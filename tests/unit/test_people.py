"""Recipient lists are computed, never hard-coded."""

from mailtickets.people import customer_recipients, new_participants, staff_recipients

OURS = frozenset({"soporte@hostingejemplo.es", "facturacion@hostingejemplo.es"})


def test_requester_then_notify_contacts_then_participants_without_duplicates() -> None:
    got = customer_recipients(
        "ana@cliente.es", ["jefe@cliente.es", "ana@cliente.es"], ["socio@cliente.es"], OURS
    )
    assert got == ("ana@cliente.es", "jefe@cliente.es", "socio@cliente.es")


def test_our_addresses_and_the_excluded_sender_are_never_recipients() -> None:
    got = customer_recipients(
        "ana@cliente.es",
        ["soporte@hostingejemplo.es"],
        ["socio@cliente.es"],
        OURS,
        exclude=["SOCIO@cliente.es"],
    )
    assert got == ("ana@cliente.es",)


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
