"""`--address` of a malformed, closed, silent or non-Ray endpoint fails in seconds with one line."""

import socket
import threading
import time

import pytest

from cfmarl.envs.validation import ConfigError
from cfmarl.raycluster import check_reachable, parse_address


@pytest.mark.parametrize("address", ["nonsense", "http://x:1", "10.0.0.1", "10.0.0.1:port", "10.0.0.1:6379/x"])
def test_malformed(address):
    with pytest.raises(ConfigError, match="expected HOST:PORT"):
        parse_address(address)


def test_forms():
    assert parse_address("10.0.0.1:6379") == ("10.0.0.1", 6379)
    assert parse_address("ray://head:10001") == ("head", 10001)
    assert parse_address("auto") is None


def _server(reply: bytes | None):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def serve():
        conn, _ = srv.accept()
        if reply is not None:
            conn.sendall(reply)
            conn.close()
        else:
            time.sleep(3)  # accept and stay silent
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    return srv, f"127.0.0.1:{srv.getsockname()[1]}"


def test_closed_port_is_refused():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(ConfigError, match="cannot connect"):
        check_reachable(f"127.0.0.1:{port}", 2)


def test_a_non_grpc_server_is_not_a_ray_head():
    srv, address = _server(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    with pytest.raises(ConfigError, match="not a Ray head"):
        check_reachable(address, 2)
    srv.close()


def test_a_silent_endpoint_times_out_quickly():
    srv, address = _server(None)
    t0 = time.perf_counter()
    with pytest.raises(ConfigError, match="no answer within 1 s"):
        check_reachable(address, 1)
    assert time.perf_counter() - t0 < 2.5
    srv.close()


def test_cli_reports_one_line(capsys):
    from cfmarl.cli import main

    assert main(["tune", "tune_configs/aps_random_tiny.yaml", "--address", "nonsense"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("cfmarl tune: error: --address 'nonsense'") and len(err.splitlines()) == 1
