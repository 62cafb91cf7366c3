"""Authentication-Results: only the trusted server's topmost header counts (pure)."""

from mailtickets.authresults import verify_sender

TRUSTED = ["mx.hostingejemplo.es"]
GOOD = (
    "mx.hostingejemplo.es; dkim=pass header.d=hostingejemplo.es header.s=s1; "
    "spf=pass smtp.mailfrom=hostingejemplo.es; dmarc=pass header.from=hostingejemplo.es"
)
BAD = "mx.hostingejemplo.es; dkim=fail header.d=hostingejemplo.es; dmarc=fail"
FORGED_PASS = (
    "mx.hostingejemplo.es; dkim=pass header.d=hostingejemplo.es; "
    "dmarc=pass header.from=hostingejemplo.es"
)


def test_trusted_pass_for_the_from_domain() -> None:
    assert verify_sender([GOOD], TRUSTED, "hostingejemplo.es").passed


def test_dkim_pass_for_another_domain_does_not_count() -> None:
    other = "mx.hostingejemplo.es; dkim=pass header.d=gmail.com; dmarc=none header.from=x.es"
    assert not verify_sender([other], TRUSTED, "hostingejemplo.es").passed


def test_a_forged_pass_below_the_trusted_header_is_ignored() -> None:
    assert not verify_sender([BAD, FORGED_PASS], TRUSTED, "hostingejemplo.es").passed


def test_a_pass_above_from_an_untrusted_server_is_ignored() -> None:
    untrusted = FORGED_PASS.replace("mx.hostingejemplo.es;", "mx.atacante.com;")
    assert not verify_sender([untrusted, BAD], TRUSTED, "hostingejemplo.es").passed


def test_no_trusted_header_at_all() -> None:
    verdict = verify_sender(
        [FORGED_PASS.replace("mx.hostingejemplo.es;", "evil;")], TRUSTED, "hostingejemplo.es"
    )
    assert not verdict.passed and "no Authentication-Results" in verdict.reason


def test_dkim_identity_header_i() -> None:
    header = "mx.hostingejemplo.es; dkim=pass header.i=@hostingejemplo.es"
    assert verify_sender([header], TRUSTED, "hostingejemplo.es").passed
