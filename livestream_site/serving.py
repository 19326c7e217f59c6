"""Tuning of the libraries under the ASGI server (daphne's WebSocket layer), applied as the application loads."""

import functools
import gc


def _placeholder(*args, **kwargs) -> str:
    return ""


def websocket_debug_formatting_skip() -> None:
    """Stop autobahn from formatting the arguments of debug lines nobody logs.

    autobahn builds its debug lines' arguments eagerly, even with debug logging off: a pretty-printed
    dump of every connection's options (about 0.5 ms per connection, a quarter of a join's CPU) and
    coloured names for every frame sent (about 15 us per delivery, a third of the fan-out's). In these
    two modules those helpers only ever build debug-log arguments, so outside debug logging they are
    replaced by a placeholder (the ASGI module calls this unless LOG_LEVEL is debug).
    """
    import autobahn.twisted.websocket
    import autobahn.websocket.protocol

    for module in (autobahn.websocket.protocol, autobahn.twisted.websocket):
        for name in ("pformat", "hltype", "hlval"):
            if hasattr(module, name):
                setattr(module, name, _placeholder)


_prepared: tuple = (None, None)  # the last room frame prepared: (its text, autobahn's PreparedMessage)


def _frame_prepared(text: str):
    """The WebSocket frame of a room's text, framed once for all the sockets it goes to (the hub hands
    the same text object to each of its sockets in turn; the pair is replaced whole, never in part)."""
    global _prepared
    last_text, prepared = _prepared
    if last_text is not text:
        from autobahn.websocket.protocol import PreparedMessage

        prepared = PreparedMessage(text.encode(), False, False, False)
        _prepared = (text, prepared)
    return prepared


def room_writer(send):
    """A function that writes a room's text frame straight to the socket behind daphne's ASGI `send`, or
    None when `send` is not daphne's (another server, the tests' communicator): its frames then go
    through `send`.

    Through `send`, every frame to every socket is a coroutine, daphne's checks of the message, a UTF-8
    encoding and autobahn framing the payload again; a room's frame is the same bytes for every socket
    (a server does not mask, and this server negotiates no compression), so autobahn's own broadcast
    path, `sendPreparedMessage`, writes the bytes framed once. Only to an open socket: a closing one
    takes nothing more, as `send` would do.
    """
    func = getattr(send, "func", None)
    server = getattr(func, "__self__", None)
    if not (
        isinstance(send, functools.partial)
        and getattr(func, "__name__", "") == "handle_reply"
        and type(server).__module__ == "daphne.server"
        and len(send.args) == 1
    ):
        return None
    protocol = send.args[0]
    if not hasattr(protocol, "sendPreparedMessage"):
        return None
    open_state = protocol.STATE_OPEN

    def write(text: str) -> None:
        if protocol.state == open_state:
            protocol.sendPreparedMessage(_frame_prepared(text))

    return write


def twisted_write_through() -> None:
    """Send a TCP write at once when nothing is waiting before it, as asyncio's own transports do.

    Twisted buffers every write and asks the event loop to wake it when the socket is writable: for each
    frame to each socket, an epoll registration, a loop iteration, the send, and another epoll call to
    unregister. A room's frame to thousands of sockets, or a storm of joins, pays that per frame (in a
    profiled 10,000-viewer join storm, about a sixth of the server's time). Here a write to a plain
    TCP connection with nothing queued is sent straight away; what the socket does not take (its buffer
    is full), any write while data waits, TLS connections and connections being closed go through
    Twisted's buffer as before, so bytes never change order.
    """
    from twisted.internet import tcp

    buffered = tcp.Connection.write
    if getattr(buffered, "write_through", False):
        return

    def write(self, data: bytes) -> None:
        if (
            not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnecting
            and not self._tempDataLen
            and self.offset == len(self.dataBuffer)
            and type(data) is bytes
            and data
        ):
            try:
                sent = self.socket.send(data)
            except OSError:  # full (EAGAIN), interrupted, or lost: Twisted's buffer and its doWrite decide
                sent = 0
            if sent == len(data):
                return
            data = data[sent:]
        buffered(self, data)

    write.write_through = True
    tcp.Connection.write = write


def gc_tune(thresholds: tuple[int, ...]) -> None:
    """Tune the cyclic garbage collector of a web process (settings.WEB_GC_THRESHOLDS; empty: Python's own).

    What is loaded at start (modules, settings, URL patterns) is never garbage: frozen, the collector
    stops walking it. Every socket keeps a few hundred container objects (protocol, consumer, buffers)
    and a join storm allocates many more that die young: with Python's thresholds (700, 10, 10) the
    collector ran every few hundred allocations and kept walking the growing heap of connections.
    Measured in a 10,000-viewer join storm: server CPU per join 2.1-2.4 ms -> 1.5-1.7 ms, the slowest
    joinedStream 2.0-2.1 s -> 1.3 s (benchmarks/join_storm.py, README Performance).
    """
    gc.freeze()
    if thresholds:
        gc.set_threshold(*thresholds)
