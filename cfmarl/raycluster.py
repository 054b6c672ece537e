"""Joining an existing Ray cluster (`--address`) fails fast with one line instead of hanging.

``ray.init(address=...)`` retries an unreachable GCS for minutes; :func:`connect` first checks the
address's form and that a gRPC server answers there (an HTTP/2 preface exchanged within a timeout), then joins.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from cfmarl.envs.validation import ConfigError

FORMS = "HOST:PORT (the head's GCS, e.g. 10.0.0.1:6379), ray://HOST:PORT (Ray Client) or auto"


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) of ``address``, None for ``auto`` / ``local``; a malformed one is a ConfigError."""
    if address in ("auto", "local"):
        return None
    text = address if "://" in address else f"tcp://{address}"
    try:
        parts = urlsplit(text)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise ConfigError(f"--address {address!r}: expected {FORMS}") from None
    if parts.scheme not in ("tcp", "ray") or not host or port is None or parts.path not in ("", "/"):
        raise ConfigError(f"--address {address!r}: expected {FORMS}")
    return host, port


_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 0x4, 0, 0, 0, 0, 0])  # + an empty SETTINGS


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """A gRPC server (Ray's GCS or Ray Client) answers at the address within ``timeout_s``, else one
    ConfigError naming the address and what went wrong."""
    hp = parse_address(address)
    if hp is None:
        return
    try:
        with socket.create_connection(hp, timeout=timeout_s) as sock:
            # Ray's GCS (and the Ray Client server) speak gRPC: an HTTP/2 server answers the client preface with
            # its SETTINGS frame. A closed port refuses; a firewall or proxy that accepts and stays silent times out.
            sock.sendall(_H2_PREFACE)
            head = _read(sock, 9)
            if len(head) < 9 or head[3] != 0x4:
                raise ConfigError(f"--address {address!r}: something listens there but it is not a Ray head "
                                  f"(no gRPC answer); expected {FORMS}")
    except socket.gaierror:
        raise ConfigError(f"--address {address!r}: unknown host {hp[0]!r}") from None
    except TimeoutError:
        raise ConfigError(f"--address {address!r}: no answer within {timeout_s:g} s (is the head node up, and "
                          f"port {hp[1]} open to this machine?)") from None
    except OSError as exc:
        raise ConfigError(f"--address {address!r}: cannot connect ({exc.strerror or exc}); is `ray start --head` "
                          f"running there?") from None


def connect(address: str, timeout_s: float = 10.0, **init_kwargs) -> None:
    """``ray.init(address=address)`` after :func:`check_reachable`."""
    import ray

    from cfmarl.envs.validation import ALLOW_LARGE_ENV, allow_large

    check_reachable(address, timeout_s)
    if allow_large():  # the user's override of the memory guard reaches the cluster's workers too
        init_kwargs.setdefault("runtime_env", {}).setdefault("env_vars", {})[ALLOW_LARGE_ENV] = "1"
    ray.init(address=address, **init_kwargs)
