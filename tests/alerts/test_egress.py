"""Where webhooks may go: non-public addresses in every spelling are refused unless
allow-listed, the checked address is the one connected to, and the URL's shape is checked."""

from __future__ import annotations

import pytest

from mlwarden.alerts.egress import (
    EgressPolicy,
    EgressRefused,
    blocked_reason,
    literal_address,
    pinned_request,
)
from mlwarden.errors import ValidationError

REFUSED = [
    ("127.0.0.1", "loopback"),
    ("2130706433", "loopback"),  # decimal
    ("0x7f000001", "loopback"),  # hexadecimal
    ("0177.0.0.1", "loopback"),  # octal
    ("127.1", "loopback"),  # short form
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),  # IPv4-mapped
    ("[::ffff:7f00:1]", "loopback"),
    ("[64:ff9b::7f00:1]", "loopback"),  # NAT64
    ("169.254.169.254", "link-local"),  # cloud metadata
    ("[fe80::1]", "link-local"),
    ("[::ffff:169.254.169.254]", "link-local"),
    ("10.0.0.7", "private"),
    ("172.16.3.4", "private"),
    ("192.168.1.1", "private"),
    ("[fd12:3456::1]", "private"),
    ("[::ffff:10.0.0.1]", "private"),
    ("100.64.0.1", "not globally routable"),  # carrier-grade NAT
    ("0.0.0.0", "unspecified"),
    ("[::]", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("240.0.0.1", "reserved"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_non_public_addresses_are_refused_in_every_spelling(host, reason):
    policy = EgressPolicy()
    with pytest.raises(EgressRefused) as err:
        policy.target(f"http://{host}:8080/hook")
    assert reason in err.value.message and "MLWARDEN_ALERTS_ALLOWED_HOSTS" in err.value.message
    with pytest.raises(EgressRefused):  # at install, without DNS
        policy.check_literal(f"http://{host}/hook")


@pytest.mark.parametrize("host", ["8.8.8.8", "[2606:4700:4700::1111]", "[::ffff:8.8.8.8]"])
def test_public_addresses_pass(host):
    target = EgressPolicy().target(f"https://{host}/hook")
    assert blocked_reason(literal_address(target.address)) is None  # type: ignore[arg-type]


def test_a_name_is_judged_by_every_address_it_resolves_to():
    answers = {"hooks.example.com": ["93.184.216.34", "127.0.0.1"]}
    policy = EgressPolicy(resolver=lambda host, port: answers[host])
    policy.check_literal("https://hooks.example.com/x")  # nothing to say without DNS
    with pytest.raises(EgressRefused, match=r"hooks\.example\.com \(127\.0\.0\.1\).*loopback"):
        policy.target("https://hooks.example.com/x")
    answers["hooks.example.com"] = ["93.184.216.34"]
    assert policy.target("https://hooks.example.com/x").address == "93.184.216.34"

    def fail(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(EgressRefused, match="cannot resolve"):
        EgressPolicy(resolver=fail).target("https://nowhere.invalid/x")


def test_allow_list_by_host_address_or_network():
    resolver = {"alerts.internal": ["10.1.2.3"], "other.internal": ["10.9.9.9"]}
    policy = EgressPolicy(
        ["alerts.internal", "127.0.0.1", "192.168.0.0/16", " "],
        resolver=lambda host, port: resolver.get(host) or [host],
    )
    assert policy.target("http://alerts.internal/x").address == "10.1.2.3"
    assert policy.target("http://127.0.0.1:9000/x").address == "127.0.0.1"
    assert policy.target("http://192.168.4.5/x").address == "192.168.4.5"
    policy.check_literal("http://127.0.0.1:9000/x")
    with pytest.raises(EgressRefused):  # allowing one name allows no other
        policy.target("http://other.internal/x")
    with pytest.raises(EgressRefused):
        policy.target("http://10.1.2.3/x")  # alerts.internal's address, by number
    with pytest.raises(EgressRefused):
        policy.check_literal("http://localhost/x")


def test_the_request_goes_to_the_checked_address():
    policy = EgressPolicy(resolver=lambda host, port: ["93.184.216.34"])
    url, headers, ext = pinned_request(policy.target("https://hooks.example.com/a/b?c=1"))
    assert url == "https://93.184.216.34:443/a/b?c=1"
    assert headers == {"Host": "hooks.example.com"}
    assert ext == {"sni_hostname": "hooks.example.com"}  # the certificate is checked by name
    v6 = EgressPolicy(resolver=lambda host, port: ["2606:4700:4700::1111"])
    url, headers, ext = pinned_request(v6.target("http://hooks.example.com:8080/x"))
    assert url == "http://[2606:4700:4700::1111]:8080/x"
    assert headers == {"Host": "hooks.example.com:8080"} and ext == {}


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://example.com/",
        "http:///nohost",
        "https://user:pw@hooks.example.com/x",
        "http://hooks.example.com:99999/x",
        "hooks.example.com/x",
    ],
)
def test_malformed_urls_are_refused(url):
    with pytest.raises(ValidationError) as err:
        EgressPolicy().check_literal(url)
    assert err.value.details["field"] == "url"
