"""A WebSocket client for strict lock-step use: one request, one reply, by one caller at a time.

websockets' sans-I/O protocol runs on a plain socket (TCP_NODELAY), driven two ways: blocking calls (`send`,
`recv`) from whichever thread waits for a message, or the same calls awaited on an event loop (`send_async`,
`recv_async`), which read the socket with the loop's own `sock_recv`. The policy server serves sessions the second
way: on a 2-core machine, handing each vendor round trip to a worker thread and back added 0.2 to 0.5 ms to it (the
same server with and without, side by side). Loading a model, on a worker thread, uses the first. websockets' own
sync client reads on a background thread and hands each message over through a condition: one more thread switch
per reply.

Nothing reads while nobody waits, so a server's keepalive pings go unanswered while the connection is idle and the
server may close it: `is_open` takes in what arrived meanwhile (answering pings) and reports a connection closed in
the meantime, so the caller can reconnect before sending a request.
"""

from __future__ import annotations

import asyncio
import collections
import select
import socket
import time

from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed, ConnectionClosedError
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

_READ_BYTES = 1 << 18


class LockstepWebSocket:
    def __init__(self, host: str, port: int, *, open_timeout_s: float, max_size: int | None,
                 send_timeout_s: float = 30.0) -> None:
        self.send_timeout_s = send_timeout_s
        self._socket = socket.create_connection((host, port), timeout=open_timeout_s)
        self._events: collections.deque = collections.deque()
        self._fragments: list[bytes] = []
        self._opcode = Opcode.BINARY
        try:
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._protocol = ClientProtocol(parse_uri(f"ws://{host}:{port}"), max_size=max_size)
            self._protocol.send_request(self._protocol.connect())
            self._flush()
            deadline = time.monotonic() + open_timeout_s
            while not isinstance(self._next_event(deadline), Response):
                pass
            if self._protocol.handshake_exc is not None:
                raise self._protocol.handshake_exc
        except BaseException:
            self._socket.close()
            raise

    def is_open(self) -> bool:
        """Takes in what arrived while idle (answering pings); False once the server has closed the connection."""
        try:
            self._take_in_waiting()
        except OSError:
            return False
        # A close frame from the server, taken in now or by an earlier `recv`, leaves the protocol CLOSING (not
        # CLOSED) until the server also ends the TCP stream, which may come later.
        return self._protocol.state is State.OPEN

    def send(self, data: bytes) -> None:
        """Sends one binary message."""
        self._protocol.send_binary(data)
        self._flush()

    def recv(self, timeout: float) -> bytes | str:
        """The next message (str for a text one); TimeoutError after `timeout` s, ConnectionClosed if closed."""
        deadline = time.monotonic() + timeout
        while True:
            message = self._assemble(self._next_event(deadline))
            if message is not None:
                return message

    async def send_async(self, data: bytes) -> None:
        """`send` on the running event loop; TimeoutError if the server takes nothing for `send_timeout_s`."""
        self._protocol.send_binary(data)
        await self._flush_async()

    async def recv_async(self, timeout: float) -> bytes | str:
        """`recv` on the running event loop. A cancelled or timed-out call leaves a message half read: close then."""
        async with asyncio.timeout(timeout):
            while True:
                while not self._events:
                    if self._protocol.state is State.CLOSED:
                        raise self._protocol.close_exc
                    self._socket.setblocking(False)
                    self._take_in(await asyncio.get_running_loop().sock_recv(self._socket, _READ_BYTES))
                    await self._flush_async()  # pongs, the reply to a close
                message = self._assemble(self._events.popleft())
                if message is not None:
                    return message

    def close(self) -> None:
        try:
            if self._protocol.state is State.OPEN:
                self._protocol.send_close()
                self._flush()
        except OSError:
            pass
        finally:
            self._socket.close()

    def _assemble(self, event: object) -> bytes | str | None:
        """Takes one event in; the message it completes, if any."""
        if not isinstance(event, Frame):
            return None
        if event.opcode is Opcode.CLOSE:
            raise self._closed_by_server()
        if event.opcode in (Opcode.TEXT, Opcode.BINARY):
            self._opcode, self._fragments = event.opcode, [event.data]
        elif event.opcode is Opcode.CONT:
            self._fragments.append(event.data)
        else:  # ping (the protocol has queued its pong) or pong
            return None
        if not event.fin:
            return None
        data = b"".join(self._fragments)
        self._fragments = []
        return data.decode() if self._opcode is Opcode.TEXT else data

    def _take_in_waiting(self) -> None:
        while select.select([self._socket], [], [], 0)[0]:
            if not self._read(0.0):
                break

    def _next_event(self, deadline: float) -> object:
        while not self._events:
            if self._protocol.state is State.CLOSED:
                raise self._protocol.close_exc
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no message in time")
            self._read(remaining)
        return self._events.popleft()

    def _read(self, timeout: float) -> bool:
        """One read into the protocol (False at the end of the stream); TimeoutError if nothing came in time."""
        self._socket.settimeout(timeout if timeout > 0 else self.send_timeout_s)
        data = self._socket.recv(_READ_BYTES)
        self._take_in(data)
        self._flush()  # pongs, the reply to a close
        return bool(data)

    def _take_in(self, data: bytes) -> None:
        if data:
            self._protocol.receive_data(data)
        else:
            self._protocol.receive_eof()
        self._events.extend(self._protocol.events_received())

    def _closed_by_server(self) -> ConnectionClosed:
        # The server's close frame came first; the protocol has answered it (close_sent) unless the socket failed.
        sent = self._protocol.close_sent
        return ConnectionClosedError(self._protocol.close_rcvd, sent, None if sent is None else True)

    def _flush(self) -> None:
        self._socket.settimeout(self.send_timeout_s)
        for chunk in self._protocol.data_to_send():
            if chunk:
                self._socket.sendall(chunk)

    async def _flush_async(self) -> None:
        chunks = [chunk for chunk in self._protocol.data_to_send() if chunk]
        if not chunks:
            return
        self._socket.setblocking(False)
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.send_timeout_s):
            for chunk in chunks:
                await loop.sock_sendall(self._socket, chunk)
