"""Loopback ports picked at run time, so several test suites (and several checkouts) can run
at once: the kernel hands out a port nobody holds, instead of each suite owning a range."""

from __future__ import annotations

import socket


def free_ports(count: int = 1, *, udp: bool = False, host: str = "127.0.0.1") -> list[int]:
    """``count`` different ports free on ``host`` (TCP, or UDP with ``udp=True``). The sockets
    are held until all are chosen, so the ports differ; then they are released for the
    caller to bind."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, kind)
            socks.append(sock)
            sock.bind((host, 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def free_port(*, udp: bool = False) -> int:
    """One free loopback port (TCP, or UDP with ``udp=True``)."""
    return free_ports(1, udp=udp)[0]
