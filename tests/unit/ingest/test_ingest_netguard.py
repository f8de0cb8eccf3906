"""SSRF guard: address classification and URL checks (numeric hosts resolve offline)."""

from __future__ import annotations

import ipaddress

import pytest

from newswatch.ingest.netguard import Allowlist, RefusedHost, check_url, classify

ip = ipaddress.ip_address


@pytest.mark.parametrize("addr,why", [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("10.1.2.3", "private"),
    ("172.16.0.1", "private"), ("192.168.1.1", "private"), ("169.254.169.254", "link-local"),
    ("0.0.0.0", "unspecified"), ("224.0.0.1", "multicast"), ("100.64.0.1", "non-public"),
    ("::1", "loopback"), ("::", "unspecified"), ("fe80::1", "link-local"), ("fc00::1", "private"),
    ("fd12:3456::1", "private"), ("ff02::1", "multicast"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("::ffff:169.254.169.254", "link-local"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 wrapping 10.0.0.1
])
def test_non_public_addresses(addr, why):
    assert classify(ip(addr)) == why


@pytest.mark.parametrize("addr", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses(addr):
    assert classify(ip(addr)) is None


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/feed", "http://localhost/feed", "http://2130706433/",  # decimal 127.0.0.1
    "http://0x7f.1/", "http://127.1/", "http://017700000001/",  # hex, short, octal forms
    "http://[::1]:8080/", "http://[::ffff:127.0.0.1]/", "http://169.254.169.254/latest/meta-data",
    "http://10.0.0.5/", "http://0.0.0.0/",
])
def test_refused_urls(url):
    with pytest.raises(RefusedHost) as ei:
        check_url(url, Allowlist(""))
    assert "NEWSWATCH_ALLOW_PRIVATE_HOSTS" in str(ei.value)


def test_decimal_host_reports_real_address():
    with pytest.raises(RefusedHost) as ei:
        check_url("http://2130706433/", Allowlist(""))
    assert ei.value.address == "127.0.0.1" and ei.value.why == "loopback"


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://127.0.0.1/"])
def test_non_http_schemes_refused(url):
    with pytest.raises(RefusedHost):
        check_url(url, Allowlist(""))


def test_allowlist_by_ip_cidr_and_host():
    assert check_url("http://127.0.0.1:9/", Allowlist("127.0.0.1"))
    assert check_url("http://10.1.2.3/", Allowlist("10.1.2.0/24"))
    with pytest.raises(RefusedHost):
        check_url("http://10.1.3.3/", Allowlist("10.1.2.0/24"))
    assert check_url("http://localhost/", Allowlist("localhost"))
    # an allowed IPv4 network also allows its IPv4-mapped IPv6 form
    assert check_url("http://[::ffff:127.0.0.1]/", Allowlist("127.0.0.0/8"))
    with pytest.raises(RefusedHost):
        check_url("http://[::1]/", Allowlist("127.0.0.1"))


def test_allowlist_parsing():
    a = Allowlist(" 127.0.0.1 , 10.0.0.0/8,,feeds.internal. ,[::1]")
    assert a.allows_ip(ip("10.9.9.9")) and a.allows_ip(ip("::1"))
    assert a.allows_host("FEEDS.internal") and not a.allows_host("other")
    assert not Allowlist("")
