"""The SSRF guard: requests to addresses people give go to public addresses only, to the address
that was checked, without following redirects."""

import socket
import ssl
import threading

import pytest

from qrplatform import netguard
from qrplatform.netguard import BlockedDestination, Policy, RequestFailed

# A test's receivers listen on 127.0.0.1: reachable only where a setting says so.
LOCAL = Policy.from_config({"QRP_NETGUARD_ALLOW_NETWORKS": ["127.0.0.0/8"]})


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "255.255.255.255", "224.0.0.1", "198.51.100.7", "::1", "::", "fe80::1",
    "fc00::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::1",
    "2002:a9fe:a9fe::1", "64:ff9b::a00:1", "2001:0:4136:e378:8000:63bf:f5ff:fffe",
])
def test_inside_addresses_are_not_public(address):
    assert not netguard.is_public(address)


@pytest.mark.parametrize("address", [
    "93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "64:ff9b::808:808",
])
def test_public_addresses_are_public(address):
    assert netguard.is_public(address)


def test_an_allowed_network_counts_as_reachable():
    assert netguard.is_public("127.0.0.1", LOCAL.allowed)
    assert not netguard.is_public("10.0.0.1", LOCAL.allowed)


@pytest.mark.parametrize(("url", "message"), [
    ("", "Give a URL"),
    ("ftp://example.com/x", "Use an http:// or https:// URL."),
    ("https://user:secret@example.com/", "Put no user name or password in the URL"),
    ("https://example.com:99999/", "port is not a number"),
    ("https:///path", "has no host name"),
    ("https://exa mple.com/", "may not contain spaces"),
    ("https://" + "a" * 2000 + ".com/", "longer than 2000 characters"),
    ("http://127.0.0.1:8080/hook", "127.0.0.1 is not a public address"),
    ("http://[::1]/hook", "::1 is not a public address"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is not a public address"),
    ("http://localhost/hook", "localhost resolves to"),
])
def test_urls_refused_with_what_to_change(app, url, message):
    with app.app_context(), pytest.raises(BlockedDestination) as refused:
        netguard.check_url(url)
    assert message in refused.value.message
    assert refused.value.field == "url" and refused.value.status == 422


def test_https_is_required_when_configured(app):
    with app.app_context():
        app.config["QRP_NETGUARD_REQUIRE_HTTPS"] = True
        try:
            with pytest.raises(BlockedDestination, match="Use an https:// URL"):
                netguard.check_url("http://1.1.1.1/hook")
            assert netguard.check_url("https://1.1.1.1/hook").addresses == ("1.1.1.1",)
        finally:
            app.config["QRP_NETGUARD_REQUIRE_HTTPS"] = False


def test_production_requires_https_by_default(monkeypatch, tmp_path):
    from qrplatform.config import load_settings

    monkeypatch.setenv("QRP_ENVIRONMENT", "production")
    monkeypatch.setenv("SECRET_KEY", "x")
    assert load_settings(str(tmp_path))["QRP_NETGUARD_REQUIRE_HTTPS"] is True
    monkeypatch.setenv("QRP_ENVIRONMENT", "development")
    assert load_settings(str(tmp_path))["QRP_NETGUARD_REQUIRE_HTTPS"] is False


def test_a_loopback_receiver_is_refused_unless_allowed(app, capture_server):
    with app.app_context(), pytest.raises(BlockedDestination, match=r"127\.0\.0\.1 is not"):
        netguard.request("POST", capture_server.url + "/hook", body=b"{}")
    assert capture_server.requests == []
    answer = netguard.request("POST", capture_server.url + "/hook", body=b"{}", policy=LOCAL)
    assert answer.status == 202 and answer.address == "127.0.0.1"
    assert capture_server.requests_to("/hook")[0].body == b"{}"


def test_redirects_are_answers_not_followed(capture_server):
    capture_server.respond("/hook", status=302, headers={"Location": "/inside"})
    answer = netguard.request("GET", capture_server.url + "/hook", policy=LOCAL)
    assert answer.status == 302 and answer.headers["location"] == "/inside"
    assert capture_server.summary() == ["GET /hook"]


def test_only_the_start_of_an_answer_is_read(capture_server):
    capture_server.respond("/big", status=200, body="x" * 100_000)
    answer = netguard.request("GET", capture_server.url + "/big", max_response_bytes=100,
                              policy=LOCAL)
    assert answer.body == b"x" * 100 and answer.truncated


def test_the_checked_address_is_the_one_connected_to(monkeypatch, capture_server):
    """DNS rebinding: the name is resolved at the request and every answer is checked; the
    connection goes to that checked address, with the name in Host."""
    port = int(capture_server.url.rsplit(":", 1)[1])
    answers = iter([["127.0.0.1"], ["10.0.0.7"]])

    def resolver(host, port, *args, **kwargs):
        assert host == "hooks.example.test"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in next(answers)]

    monkeypatch.setattr(netguard.socket, "getaddrinfo", resolver)
    url = f"http://hooks.example.test:{port}/hook"
    assert netguard.request("POST", url, body=b"1", policy=LOCAL).status == 202
    [received] = capture_server.requests_to("/hook")
    assert received.headers["Host"] == f"hooks.example.test:{port}"
    # The same name now answers a private address: refused before any connection.
    with pytest.raises(BlockedDestination, match=r"resolves to 10\.0\.0\.7"):
        netguard.request("POST", url, body=b"2", policy=LOCAL)
    assert len(capture_server.requests_to("/hook")) == 1


def test_a_silent_server_times_out():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        with pytest.raises(RequestFailed, match=r"no answer within 0\.3 s"):
            netguard.request("POST", url, body=b"{}", timeout=0.3, policy=LOCAL)


def test_refused_connections_and_unverifiable_certificates_are_failures(tmp_path):
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(RequestFailed, match="connection refused"):
        netguard.request("GET", f"http://127.0.0.1:{port}/", policy=LOCAL)

    certificate, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        thread = threading.Thread(target=_handshake_once, args=(listener, context), daemon=True)
        thread.start()
        with pytest.raises(RequestFailed, match="TLS certificate not accepted"):
            netguard.request("GET", f"https://127.0.0.1:{listener.getsockname()[1]}/",
                             policy=LOCAL, timeout=5)
        thread.join(5)


def _handshake_once(listener, context):
    connection, _ = listener.accept()
    try:
        context.wrap_socket(connection, server_side=True)
    except (ssl.SSLError, OSError):
        pass  # the client refused our certificate, as it should
    finally:
        connection.close()


def _self_signed(tmp_path):
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                   .public_key(key.public_key()).serial_number(1)
                   .not_valid_before(now - timedelta(days=1))
                   .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)
