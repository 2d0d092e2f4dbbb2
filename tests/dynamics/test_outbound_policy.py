"""SPEC N8, the rule itself (dynamics/outbound.py): which addresses the client refuses,
in every spelling, and what the operator's allowlist lets through."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from dynamics.errors import DestinationRefused, PermanentError
from dynamics.outbound import OutboundPolicy, classify, parse_ip_literal
from tests.outbound_fixtures import PUBLIC_ADDRESS, REFUSED_HOSTS, FakeDNS


@pytest.mark.parametrize(("host", "code"), REFUSED_HOSTS)
def test_every_class_and_spelling_is_refused(host: str, code: str) -> None:
    with pytest.raises(DestinationRefused) as exc:
        OutboundPolicy().resolve(host, 443)
    assert exc.value.code == code
    assert isinstance(exc.value, PermanentError)  # never retried
    assert not exc.value.resolved  # the address is the host itself, no DNS involved


@pytest.mark.parametrize(("spelling", "address"), [
    ("127.1", "127.0.0.1"), ("2130706433", "127.0.0.1"), ("0x7f000001", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"), ("0177.0.0.1", "127.0.0.1"), ("127.0.0.1.", "127.0.0.1"),
    ("10.1", "10.0.0.1"), ("192.168.257", "192.168.1.1"), ("[::ffff:7f00:1]", "::ffff:7f00:1"),
    ("0", "0.0.0.0"),
])
def test_obfuscated_spellings_read_as_the_address_they_are(spelling: str, address: str) -> None:
    assert parse_ip_literal(spelling) == ipaddress.ip_address(address)


@pytest.mark.parametrize("name", ["crm.example.com", "1.2.3.4.5", "08.1.1.1", "0x1g.0.0.1",
                                  "256.256.256.256", "１２７.0.0.1"])
def test_names_are_not_taken_for_addresses(name: str) -> None:
    assert parse_ip_literal(name) is None


@pytest.mark.parametrize("address", [PUBLIC_ADDRESS, "8.8.8.8", "2606:4700:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_pass(address: str) -> None:
    assert classify(ipaddress.ip_address(address)) is None
    assert OutboundPolicy().resolve(address) == [ipaddress.ip_address(address)]


def test_every_resolved_address_must_be_allowed(fake_dns: FakeDNS) -> None:
    fake_dns.set("mixed.example", [PUBLIC_ADDRESS, "10.1.2.3"])
    with pytest.raises(DestinationRefused) as exc:
        OutboundPolicy().resolve("mixed.example", 443)
    assert (exc.value.code, exc.value.host, exc.value.address) == (
        "private", "mixed.example", "10.1.2.3")
    assert exc.value.resolved
    fake_dns.set("public.example", [PUBLIC_ADDRESS])
    assert OutboundPolicy().resolve("public.example") == [ipaddress.ip_address(PUBLIC_ADDRESS)]


def test_a_name_that_does_not_resolve_raises_a_resolution_error(fake_dns: FakeDNS) -> None:
    fake_dns.set("nowhere.example", [])
    with pytest.raises(socket.gaierror):
        OutboundPolicy().resolve("nowhere.example")  # the client: "could not be reached"
    with pytest.raises(DestinationRefused) as exc:
        OutboundPolicy().check_url("https://nowhere.example/org")  # a setting being saved
    assert exc.value.code == "unresolvable"


def test_the_allowlist_lets_networks_addresses_and_host_names_through(fake_dns: FakeDNS
                                                                      ) -> None:
    policy = OutboundPolicy.from_entries([" 10.20.0.0/16", "192.168.1.7 ", "fd00::/8",
                                          "CRM.Intern.Example.", "127.0.0.0/8"])
    assert policy.resolve("10.20.3.4") and policy.resolve("192.168.1.7")
    assert policy.resolve("[fd00::5]") and policy.resolve("127.1")
    assert policy.resolve("[::ffff:127.0.0.1]")  # the IPv4 it carries is allowed
    for refused in ("10.21.0.1", "192.168.1.8", "169.254.169.254"):
        with pytest.raises(DestinationRefused):
            policy.resolve(refused)
    fake_dns.set("crm.intern.example", ["10.99.0.1", "10.99.0.2"])
    assert len(policy.resolve("crm.intern.example")) == 2  # by name: whatever it resolves to
    fake_dns.set("other.intern.example", ["10.99.0.1"])
    with pytest.raises(DestinationRefused):
        policy.resolve("other.intern.example")
    # An allowed name is not looked up when a setting is saved.
    lookups = len(fake_dns.lookups)
    policy.check_url("https://crm.intern.example/org")
    assert len(fake_dns.lookups) == lookups


@pytest.mark.parametrize("entry", ["10.0.0.0/33", "crm example", "http://crm.example",
                                   "127.1", "*.example.com"])
def test_a_bad_allowlist_entry_is_named(entry: str) -> None:
    with pytest.raises(ValueError, match=r"CIDR|IP address"):
        OutboundPolicy.from_entries(["10.0.0.0/8", entry])
