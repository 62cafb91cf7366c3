"""Which addresses a check may connect to: the decision alone (the connections that obey it
are tested in tests/e2e/test_assistant_safety.py)."""

from __future__ import annotations

import pytest

from mailtickets.assistant.safety import judge, parse_networks


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fd12:3456::1", "private"),
        ("169.254.169.254", "link-local"),  # a cloud's metadata service
        ("fe80::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("100.64.0.1", "shared"),  # carrier-grade NAT
        ("192.0.2.10", "private"),  # documentation (TEST-NET-1)
        ("198.18.0.1", "private"),  # benchmarking
        ("2001:db8::1", "private"),  # documentation
    ],
)
def test_every_non_public_range_is_refused(address: str, kind: str) -> None:
    verdict = judge(address)
    assert not verdict.allowed
    assert verdict.kind == kind
    assert address in verdict.reason


@pytest.mark.parametrize(
    ("address", "inner"),
    [
        ("::ffff:127.0.0.1", "127.0.0.1"),  # IPv4-mapped
        ("::ffff:10.0.0.5", "10.0.0.5"),
        ("64:ff9b::a00:5", "10.0.0.5"),  # NAT64 to 10.0.0.5
        ("2002:a00:5::1", "10.0.0.5"),  # 6to4 of 10.0.0.5
        ("2002:7f00:1::", "127.0.0.1"),
    ],
)
def test_ipv6_carrying_a_private_ipv4_is_judged_by_it(address: str, inner: str) -> None:
    verdict = judge(address)
    assert not verdict.allowed
    assert f"reaches {inner}" in verdict.reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:93.184.216.34"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    verdict = judge(address)
    assert verdict.allowed and verdict.kind == "public"


def test_allow_networks_opens_exactly_the_ranges_it_names() -> None:
    allow = parse_networks(["127.0.0.0/8", "10.1.0.0/16"])
    assert judge("127.0.0.1", allow).allowed
    assert judge("127.8.9.10", allow).reason == "allowed by 127.0.0.0/8"
    assert judge("::ffff:127.0.0.1", allow).allowed  # the same loopback, mapped
    assert judge("10.1.2.3", allow).allowed
    assert not judge("10.2.0.1", allow).allowed
    assert not judge("::1", allow).allowed  # IPv6 loopback is not 127.0.0.0/8
    assert not judge("169.254.169.254", allow).allowed


def test_allowing_only_a_mapped_address_leaves_the_ipv4_itself_forbidden() -> None:
    allow = parse_networks(["::ffff:127.0.0.1/128"])
    assert judge("::ffff:127.0.0.1", allow).allowed
    assert not judge("127.0.0.1", allow).allowed


def test_a_bad_network_in_config_is_an_error_naming_it() -> None:
    with pytest.raises(ValueError, match="localhost"):
        parse_networks(["localhost"])
