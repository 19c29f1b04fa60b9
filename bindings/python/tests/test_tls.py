"""TLS (wss://) and process_request, from Python: interop with websockets'
ssl contexts both ways, the exceptions each failed check raises (still
ssl.SSLError for code written for websockets), reload, and the say before
the 101. Certificates come from scripts/make-test-certs.sh."""

import os
import pathlib
import shutil
import ssl
import subprocess
import sys
import threading
import time

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import serve as ws_serve

import wsengine

ROOT = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def certs() -> pathlib.Path:
    directory = pathlib.Path(os.environ.get("WSE_TEST_CERTS", ROOT / "target" / "certs"))
    subprocess.run([str(ROOT / "scripts" / "make-test-certs.sh"), str(directory)], check=True)
    return directory


def tls_echo(serve, certs, name="server", **options):
    url = serve(tls_cert=str(certs / f"{name}.pem"), tls_key=str(certs / f"{name}.key"), **options)
    return url.replace("ws://127.0.0.1", "wss://localhost")


def test_echo_over_wss_with_our_own_options(serve, certs):
    url = tls_echo(serve, certs)
    with wsengine.connect(url, tls_ca=str(certs / "ca.pem"), tls_system_trust=False) as ws:
        ws.send("über tls")
        assert ws.recv(timeout=5) == "über tls"
        ws.send(b"\x00" * 100_000)
        assert ws.recv(timeout=5) == b"\x00" * 100_000
        assert ws.request.peer_certificate.startswith(b"\x30")


def test_an_ssl_context_is_honoured_exactly(serve, certs):
    url = tls_echo(serve, certs)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with wsengine.connect(url, ssl=ctx) as ws:
        ws.send("ctx")
        assert ws.recv(timeout=5) == "ctx"
    insecure = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    with wsengine.connect(url, ssl=insecure) as ws:
        ws.send("unverified")
        assert ws.recv(timeout=5) == "unverified"
    # What cannot be honoured raises instead of being ignored.
    half = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    half.check_hostname = False
    with pytest.raises(ValueError, match="host name"):
        wsengine.connect(url, ssl=half)
    crl = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    crl.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    with pytest.raises(ValueError, match="revocation"):
        wsengine.connect(url, ssl=crl)
    with pytest.raises(TypeError, match="tls_cert"):
        wsengine.listen("127.0.0.1", 0, ssl=ctx)
    with pytest.raises(ValueError, match="ws://"):
        wsengine.connect(url.replace("wss://", "ws://"), ssl=ctx)


def test_system_trust_honours_ssl_cert_file(serve, certs):
    """The default trust is the operating system's: on Linux the system
    bundle, or the file SSL_CERT_FILE names (read in a process of its own,
    as the variable is read once)."""
    url = tls_echo(serve, certs)
    script = (
        "import sys, wsengine\n"
        "with wsengine.connect(sys.argv[1]) as ws:\n"
        "    ws.send('trusted'); assert ws.recv(timeout=5) == 'trusted'\n"
    )
    env = dict(os.environ, SSL_CERT_FILE=str(certs / "ca.pem"))
    env.pop("SSL_CERT_DIR", None)
    done = subprocess.run([sys.executable, "-c", script, url], env=env, capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr.decode()
    # Without it the test CA is a stranger.
    env.pop("SSL_CERT_FILE")
    done = subprocess.run([sys.executable, "-c", script, url], env=env, capture_output=True, timeout=30)
    assert done.returncode != 0 and b"unknown issuer" in done.stderr


def test_failed_checks_raise_ssl_errors_that_say_which(serve, certs):
    url = tls_echo(serve, certs)
    # The system does not trust the test CA: websockets users' except clause still works.
    with pytest.raises(ssl.SSLCertVerificationError) as caught:
        wsengine.connect(url)
    assert isinstance(caught.value, wsengine.CertificateVerifyError)
    assert caught.value.kind == "unknown_issuer"
    with pytest.raises(ssl.SSLError) as caught:
        wsengine.connect(url, tls_ca=str(certs / "stranger-ca.pem"), tls_system_trust=False)
    assert caught.value.kind == "unknown_issuer"
    other = tls_echo(serve, certs, name="other")
    with pytest.raises(wsengine.CertificateVerifyError) as caught:
        wsengine.connect(other, tls_ca=str(certs / "ca.pem"))
    assert caught.value.kind == "name_mismatch"
    # ... unless told the name the certificate carries.
    with wsengine.connect(other, tls_ca=str(certs / "ca.pem"), server_hostname="other.test") as ws:
        ws.send("named")
        assert ws.recv(timeout=5) == "named"
    # TLS to a plain port.
    plain = serve().replace("ws://127.0.0.1", "wss://localhost")
    with pytest.raises(wsengine.TLSError) as caught:
        wsengine.connect(plain, tls_ca=str(certs / "ca.pem"))
    assert caught.value.kind == "not_tls"
    with pytest.raises(wsengine.TLSError) as caught:
        wsengine.listen("127.0.0.1", 0, tls_cert=str(certs / "server.pem"), tls_key=str(certs / "client.key"))
    assert caught.value.kind == "config"


def test_client_certificates(serve, certs):
    url = tls_echo(serve, certs, tls_client_ca=str(certs / "ca.pem"))
    ca = str(certs / "ca.pem")
    with pytest.raises(wsengine.TLSError) as caught:
        wsengine.connect(url, tls_ca=ca)
    assert caught.value.kind == "client_certificate_rejected"
    with pytest.raises(wsengine.TLSError):
        wsengine.connect(
            url, tls_ca=ca, tls_cert=str(certs / "stranger-client.pem"), tls_key=str(certs / "stranger-client.key")
        )
    with wsengine.connect(url, tls_ca=ca, tls_cert=str(certs / "client.pem"), tls_key=str(certs / "client.key")) as ws:
        ws.send("mutual")
        assert ws.recv(timeout=5) == "mutual"
        assert ws.request.peer_subject == "CN=localhost"


def test_websockets_client_with_an_ssl_context_against_our_tls_server(serve, certs):
    url = tls_echo(serve, certs)
    ctx = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    with ws_connect(url, ssl=ctx) as ws:
        ws.send("from websockets")
        assert ws.recv(timeout=5) == "from websockets"
        data = os.urandom(500_000)
        ws.send(data)
        assert ws.recv(timeout=10) == data


def test_our_client_against_a_websockets_tls_server(certs):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs / "server.pem", certs / "server.key")

    def echo(ws):
        for message in ws:
            ws.send(message)

    with ws_serve(echo, "127.0.0.1", 0, ssl=ctx) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with wsengine.connect(f"wss://localhost:{port}/", tls_ca=str(certs / "ca.pem")) as ws:
            ws.send("to websockets")
            assert ws.recv(timeout=5) == "to websockets"
            ws.send(b"x" * (1 << 20))
            assert ws.recv(timeout=10) == b"x" * (1 << 20)
        server.shutdown()


def test_reload_serves_the_new_certificate_and_keeps_old_connections(certs, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    shutil.copy(certs / "server.pem", cert)
    shutil.copy(certs / "server.key", key)
    server = wsengine.serve(
        lambda conn: [conn.send(m) for m in conn], "127.0.0.1", 0, tls_cert=str(cert), tls_key=str(key)
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"wss://localhost:{server.local_address[1]}/"
    ca = str(certs / "ca.pem")
    try:
        old = wsengine.connect(url, tls_ca=ca)
        first = old.request.peer_certificate
        shutil.copy(certs / "server2.pem", cert)
        shutil.copy(certs / "server2.key", key)
        server.reload_tls()
        # openssl s_client, a client of its own, sees the new certificate's serial.
        served = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{server.local_address[1]}", "-servername", "localhost"],
            input=b"", capture_output=True, timeout=10,
        ).stdout
        serial = subprocess.run(
            ["openssl", "x509", "-noout", "-serial"], input=served, capture_output=True, check=True
        ).stdout
        expected = subprocess.run(
            ["openssl", "x509", "-noout", "-serial", "-in", str(certs / "server2.pem")],
            capture_output=True, check=True,
        ).stdout
        assert serial == expected and serial.startswith(b"serial=")
        new = wsengine.connect(url, tls_ca=ca)
        assert new.request.peer_certificate != first
        for ws in (old, new):
            ws.send("alive")
            assert ws.recv(timeout=5) == "alive"
        key.write_text("not a key")
        with pytest.raises(wsengine.TLSError) as caught:
            server.reload_tls()
        assert caught.value.kind == "config"
        again = wsengine.connect(url, tls_ca=ca)
        assert again.request.peer_certificate == new.request.peer_certificate
        for ws in (old, new, again):
            ws.close()
    finally:
        server.shutdown()


def process_request(request):
    token = request.header("authorization")
    if token == "Bearer s3cret" or "token=s3cret" in (request.query or ""):
        return wsengine.Accept(headers={"X-Welcome": "yes"}, data={"user": request.cookie("name")})
    if request.path == "/busy":
        return (429, [("Retry-After", "2")], "slow down")
    return (401, {"WWW-Authenticate": "Bearer"}, b"token required")


def test_process_request_accepts_with_data_and_refuses_with_any_status(serve):
    seen = []

    def handler(conn):
        seen.append(conn.data)
        for message in conn:
            conn.send(message)

    url = serve(handler, process_request=process_request)
    with wsengine.connect(url + "?token=s3cret", additional_headers={"Cookie": "name=ada"}) as ws:
        assert ws.request.header("x-welcome") == "yes"
        ws.send("in")
        assert ws.recv(timeout=5) == "in"
    assert seen == [{"user": "ada"}]
    with pytest.raises(wsengine.InvalidHandshake) as caught:
        wsengine.connect(url)
    assert caught.value.status == 401
    assert caught.value.body == b"token required"
    assert caught.value.header("www-authenticate") == "Bearer"
    with pytest.raises(wsengine.InvalidHandshake) as caught:
        wsengine.connect(url.rstrip("/") + "/busy")
    assert (caught.value.status, caught.value.header("retry-after")) == (429, "2")
    # A websockets client sees the same refusal.
    with pytest.raises(InvalidStatus) as refused:
        ws_connect(url)
    assert refused.value.response.status_code == 401
    assert refused.value.response.body == b"token required"
    with ws_connect(url, additional_headers={"Authorization": "Bearer s3cret"}) as ws:
        ws.send("websockets in")
        assert ws.recv(timeout=5) == "websockets in"


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_failing_process_request_refuses_with_500(serve):
    def broken(request):
        raise RuntimeError("bug")

    url = serve(process_request=broken)
    with pytest.raises(wsengine.InvalidHandshake) as caught:
        wsengine.connect(url)
    assert caught.value.status == 500


def test_upgrade_events_are_answered_from_the_poll_loop():
    server = wsengine.listen("127.0.0.1", 0, poll_events=True, upgrade_events=True)
    url = f"ws://127.0.0.1:{server.local_address[1]}/"
    outcome = {}

    def client(name, query):
        try:
            with wsengine.connect(url + query) as ws:
                outcome[name] = ws.recv(timeout=5)
        except wsengine.InvalidHandshake as e:
            outcome[name] = e.status

    threads = [
        threading.Thread(target=client, args=("good", "?token=ok")),
        threading.Thread(target=client, args=("bad", "?token=no")),
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while len(outcome) < 2 and time.monotonic() < deadline:
        event = server.poll(0.05)
        if event is None:
            continue
        if event.kind == "upgrade":
            assert event.connection is None
            if event.upgrade.request.query == "token=ok":
                event.upgrade.accept(data="player-1")
            else:
                event.upgrade.refuse(403, "no")
            assert event.upgrade.answered
            with pytest.raises(ValueError):
                event.upgrade.refuse(403)
        elif event.kind == "open":
            event.connection.send(event.connection.data)
    for t in threads:
        t.join()
    assert outcome == {"good": "player-1", "bad": 403}
    server.shutdown()
