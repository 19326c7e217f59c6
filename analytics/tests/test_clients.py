"""Geography and devices: the trusted header, X-Forwarded-For hops, the offline database, user agents."""

import pytest
from django.test import override_settings

from analytics import clients


@pytest.mark.parametrize(
    ("address", "country"),
    [
        ("8.8.8.8", "US"),
        ("1.0.16.1", "JP"),
        ("81.2.69.142", "GB"),
        ("193.99.144.80", "DE"),
        ("2001:4860:4860::8888", "US"),
        ("127.0.0.1", "ZZ"),
        ("::1", "ZZ"),
        ("10.1.2.3", "ZZ"),
        ("192.168.0.10", "ZZ"),
        ("100.64.0.1", "ZZ"),  # carrier-grade NAT
        ("not an address", "ZZ"),
        (None, "ZZ"),
    ],
)
def test_the_shipped_database_knows_public_addresses_and_the_rest_is_unknown(address, country):
    assert clients.address_country(address) == country


@override_settings(ANALYTICS_COUNTRY_HEADER="CF-IPCountry")
def test_the_trusted_header_wins_when_valid():
    assert clients.viewer_country(headers={"cf-ipcountry": "fr"}, peer="8.8.8.8") == "FR"
    # Cloudflare's "XX" (unknown) and "T1" (Tor), and junk, fall back to the address.
    for junk in ("XX", "T1", "", "France", "1A"):
        assert clients.viewer_country(headers={"cf-ipcountry": junk}, peer="8.8.8.8") == "US"


def test_without_a_configured_header_a_client_cannot_choose_its_country():
    assert clients.viewer_country(headers={"cf-ipcountry": "FR"}, peer="8.8.8.8") == "US"


@pytest.mark.parametrize(
    ("hops", "forwarded", "peer", "address"),
    [
        (0, "1.0.16.1", "8.8.8.8", "8.8.8.8"),  # no trusted proxy: the header is the client's word only
        (1, "9.9.9.9, 1.0.16.1", "10.0.0.1", "1.0.16.1"),
        (2, "9.9.9.9, 1.0.16.1, 10.0.0.5", "10.0.0.1", "1.0.16.1"),
        (3, "1.0.16.1", "10.0.0.1", "1.0.16.1"),  # fewer hops than configured: the first address there is
        (1, "", "10.0.0.1", "10.0.0.1"),
    ],
)
def test_the_client_address_counts_trusted_proxy_hops(hops, forwarded, peer, address):
    with override_settings(TRUSTED_PROXY_COUNT=hops):
        assert clients.client_address(headers={"x-forwarded-for": forwarded}, peer=peer) == address


def test_a_broken_maxmind_file_does_not_break_watching(tmp_path):
    path = tmp_path / "GeoLite2-Country.mmdb"
    path.write_bytes(b"not a database")
    with override_settings(GEOIP_PATH=str(path)):
        assert clients.address_country("8.8.8.8") == "ZZ"


@pytest.mark.parametrize(
    ("user_agent", "described"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
            ("desktop", "Chrome", "Windows"),
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", ("desktop", "Firefox", "Linux")),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
            ("mobile", "Mobile Safari", "iOS"),
        ),
        (
            "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Mobile/15E148 Safari/604.1",
            ("tablet", "Mobile Safari", "iOS"),
        ),
        (
            "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
            ("tv", "Samsung Internet", "Tizen"),
        ),
        ("Googlebot/2.1 (+http://www.google.com/bot.html)", ("bot", "Googlebot", "")),
        ("VLC/3.0.18 LibVLC/3.0.18", ("other", "VLC", "")),
        ("", ("other", "", "")),
    ],
)
def test_device_class_browser_and_os_from_the_user_agent(user_agent, described):
    result = clients.device_describe(user_agent)
    assert (result["device_class"], result["browser"], result["os"]) == described


def test_viewer_keys():
    class Anonymous:
        is_authenticated = False

    class Signed:
        is_authenticated = True
        id = 42

    assert clients.viewer_key(user=Signed(), anonymous="abc", fallback="conn") == "u42"
    assert clients.viewer_key(user=Anonymous(), anonymous="abc", fallback="conn") == "aabc"
    assert clients.viewer_key(user=Anonymous(), anonymous=None, fallback="conn") == "aconn"
    assert clients.anonymous_id({"lsv": "0123456789abcdef0123456789abcdef"}) == "0123456789abcdef0123456789abcdef"
    for bad in ("", "short", "z" * 32, "0123456789abcdef0123456789abcdef0"):
        assert clients.anonymous_id({"lsv": bad}) is None
