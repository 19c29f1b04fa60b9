"""Clients behind proxies: tinyproxy (HTTP CONNECT, Basic credentials) and
danted (SOCKS5), started here on loopback; the environment's *_proxy and
no_proxy variables; ProxyError for a refusing proxy."""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Iterator

import pytest

import wsengine

REQUIRED = os.environ.get("WSENGINE_REQUIRE_PROXIES") == "1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(tool: str) -> None:
    if shutil.which(tool) is None and shutil.which(tool, path="/usr/sbin") is None:
        if REQUIRED:
            pytest.fail(f"{tool} is not installed (apt-get install tinyproxy dante-server)")
        pytest.skip(f"{tool} is not installed")


class Proxy:
    def __init__(self, process: subprocess.Popen, port: int, log: Path) -> None:
        self.process, self.port, self.log = process, port, log

    def log_text(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def _start(command: list, port: int, log: Path) -> Proxy:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return Proxy(process, port, log)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"{command[0]} never listened")


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Proxy]:
    _need("tinyproxy")
    port = _free_port()
    log = tmp_path / "tinyproxy.log"
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text(
        f'Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{log}"\nLogLevel Connect\n'
        "MaxClients 20\nAllow 127.0.0.1\nBasicAuth alice s3cret\n"
    )
    proxy = _start(["tinyproxy", "-d", "-c", str(conf)], port, log)
    yield proxy
    proxy.process.kill()
    proxy.process.wait()


@pytest.fixture
def danted(tmp_path: Path) -> Iterator[Proxy]:
    _need("danted")
    port = _free_port()
    log = tmp_path / "danted.log"
    conf = tmp_path / "danted.conf"
    conf.write_text(
        f"logoutput: {log}\ninternal: 127.0.0.1 port = {port}\nexternal: 127.0.0.1\n"
        "clientmethod: none\nsocksmethod: none\n"
        "client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }\n"
        "socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 log: connect error }\n"
    )
    danted = shutil.which("danted") or "/usr/sbin/danted"
    proxy = _start([danted, "-f", str(conf)], port, log)
    yield proxy
    proxy.process.kill()
    proxy.process.wait()


def _echo(url: str, **options: object) -> None:
    with wsengine.connect(url, **options) as ws:
        ws.send("through the proxy")
        assert ws.recv(timeout=5) == "through the proxy"


def test_http_proxy_with_credentials(serve, tinyproxy):
    url = serve()
    port = url.rsplit(":", 1)[1].rstrip("/")
    _echo(url, proxy=f"http://alice:s3cret@127.0.0.1:{tinyproxy.port}")
    assert f"CONNECT 127.0.0.1:{port}" in tinyproxy.log_text()


def test_a_refusing_proxy_raises_proxy_error_with_its_status(serve, tinyproxy):
    url = serve()
    for creds in ("", "alice:hunter2@"):
        with pytest.raises(wsengine.ProxyError) as caught:
            wsengine.connect(url, proxy=f"http://{creds}127.0.0.1:{tinyproxy.port}")
        e = caught.value
        assert e.kind == "refused" and e.status in (401, 407), (creds, e.status)
        assert isinstance(e, wsengine.InvalidHandshake)
        assert "hunter2" not in str(e)


def test_the_environment_names_the_proxy_and_no_proxy_bypasses_it(serve, tinyproxy, monkeypatch):
    url = serve()
    port = url.rsplit(":", 1)[1].rstrip("/")
    monkeypatch.setenv("ws_proxy", f"http://alice:s3cret@127.0.0.1:{tinyproxy.port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    _echo(url)  # proxy=True: from the environment
    seen = tinyproxy.log_text().count(f"CONNECT 127.0.0.1:{port}")
    assert seen == 1
    _echo(url, proxy=None)  # direct, whatever the environment says
    monkeypatch.setenv("no_proxy", "localhost,127.0.0.1")
    _echo(url)
    assert tinyproxy.log_text().count(f"CONNECT 127.0.0.1:{port}") == seen, "the proxy saw nothing more"


def test_socks5_and_socks5h(serve, danted):
    url = serve().replace("127.0.0.1", "localhost")
    for scheme in ("socks5", "socks5h"):
        _echo(url, proxy=f"{scheme}://127.0.0.1:{danted.port}")
    assert "tcp/connect" in danted.log_text()


def test_bad_proxy_settings():
    with pytest.raises(ValueError):
        wsengine.connect("ws://127.0.0.1:1/", proxy="https://proxy:443")
    with pytest.raises(TypeError):
        wsengine.connect("ws://127.0.0.1:1/", proxy=3)
    # An unreachable proxy is an OSError naming it.
    port = _free_port()
    with pytest.raises(OSError) as caught:
        wsengine.connect("ws://example.invalid/", proxy=f"http://127.0.0.1:{port}")
    assert f"127.0.0.1:{port}" in str(caught.value)
