"""The socket ``jobq serve`` answers on sends each answer at once.

Found by W6 (``make bench``): on a keep-alive connection every request took 44 ms, ``/health``
as much as ``POST /jobs``, while a fresh connection took 2 ms. ``service.listen`` made its
socket with ``socket.create_server``, whose protocol number is 0, and asyncio turns Nagle's
algorithm off (``TCP_NODELAY``) only on accepted sockets whose protocol is TCP's own: so an
answer written in two parts (uvicorn writes its headers, then its body) held its second part
back until the client acknowledged the first, and clients acknowledge after 40 ms.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from jobq.service import listen


async def _nodelay_of_accepted(host: str) -> int:
    """``TCP_NODELAY`` of a connection accepted, as uvicorn accepts it (asyncio's server on the
    socket ``listen`` made), from ``host``."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[int] = loop.create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    sock = listen(host, 0)
    server = await loop.create_server(Accept, sock=sock)
    try:
        _, writer = await asyncio.open_connection(host, sock.getsockname()[1])
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_connections_accepted_on_the_api_socket_have_nagle_off() -> None:
    assert await _nodelay_of_accepted("127.0.0.1") != 0


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="this machine has no IPv6 loopback")
async def test_so_do_connections_over_ipv6_loopback() -> None:
    assert await _nodelay_of_accepted("::1") != 0
