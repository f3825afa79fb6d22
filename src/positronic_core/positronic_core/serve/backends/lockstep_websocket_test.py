import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from positronic_core.serve.backends.lockstep_websocket import LockstepWebSocket


@contextmanager
def _server(handler: Callable[[ServerConnection], None]) -> Iterator[int]:
    with serve(handler, "127.0.0.1", 0, compression=None, ping_interval=None) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(timeout=10)


def _connect(port: int) -> LockstepWebSocket:
    return LockstepWebSocket("127.0.0.1", port, open_timeout_s=5.0, max_size=1 << 20)


def test_lock_step_messages_binary_text_and_fragmented():
    def handler(ws: ServerConnection) -> None:
        ws.send(b"hello")
        for message in ws:
            ws.send(message + b"!")
            ws.send("a text")
            ws.send([b"frag", b"mented"])

    with _server(handler) as port:
        ws = _connect(port)
        try:
            assert ws.recv(timeout=5.0) == b"hello"
            ws.send(b"x" * 300_000)
            assert ws.recv(timeout=5.0) == b"x" * 300_000 + b"!"
            assert ws.recv(timeout=5.0) == "a text"
            assert ws.recv(timeout=5.0) == b"fragmented"
        finally:
            ws.close()


def test_no_message_in_time_is_a_timeout():
    with _server(lambda ws: ws.recv()) as port:
        ws = _connect(port)
        try:
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.05)
        finally:
            ws.close()


def test_pings_that_arrive_while_idle_are_answered_and_a_close_is_seen_before_sending():
    answered = threading.Event()
    may_close = threading.Event()

    def handler(ws: ServerConnection) -> None:
        ws.ping(b"idle?").wait(timeout=5.0)  # returns once our pong came back
        answered.set()
        may_close.wait(timeout=5.0)
        ws.close()

    with _server(handler) as port:
        ws = _connect(port)
        try:
            while not answered.is_set():  # nobody waits for a message: is_open takes the ping in
                assert ws.is_open()
            may_close.set()
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5.0)
            assert not ws.is_open()
        finally:
            ws.close()


def test_the_same_exchange_awaited_on_an_event_loop():
    def handler(ws: ServerConnection) -> None:
        ws.send(b"hello")
        for message in ws:
            ws.ping(b"still there?").wait(timeout=5.0)  # answered while the client awaits the reply
            ws.send(message + b"!")
            ws.send("a text")
            ws.send([b"frag", b"mented"])

    async def exchange(ws: LockstepWebSocket) -> list[bytes | str]:
        await ws.send_async(b"x" * 300_000)
        return [await ws.recv_async(timeout=5.0) for _ in range(3)]

    with _server(handler) as port:
        ws = _connect(port)
        try:
            assert ws.recv(timeout=5.0) == b"hello"  # a connection opened by a worker thread, then served by a loop
            assert asyncio.run(exchange(ws)) == [b"x" * 300_000 + b"!", "a text", b"fragmented"]
            ws.send(b"y")  # and back to blocking calls
            assert ws.recv(timeout=5.0) == b"y!"
        finally:
            ws.close()


def test_awaiting_a_message_that_never_comes_is_a_timeout_and_a_close_is_seen():
    may_close = threading.Event()

    def handler(ws: ServerConnection) -> None:
        may_close.wait(timeout=5.0)
        ws.close()

    async def wait_twice(ws: LockstepWebSocket) -> None:
        with pytest.raises(TimeoutError):
            await ws.recv_async(timeout=0.05)
        may_close.set()
        with pytest.raises(ConnectionClosed):
            await ws.recv_async(timeout=5.0)

    with _server(handler) as port:
        ws = _connect(port)
        try:
            asyncio.run(wait_twice(ws))
            assert not ws.is_open()
        finally:
            ws.close()
