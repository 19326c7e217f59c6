"""Room frames under daphne: framed once, written straight to each open socket; TCP writes sent at once when
nothing waits before them."""

import functools
import socket
from collections import deque

from autobahn.websocket.protocol import TrafficStats
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from livestream_site.serving import room_writer, twisted_write_through


class _Transport:
    def __init__(self):
        self.written = []

    def write(self, data):
        self.written.append(data)


def _socket() -> WebSocketProtocol:
    protocol = WebSocketProtocol()
    protocol.state = protocol.STATE_OPEN
    protocol.transport = _Transport()
    protocol._perMessageCompress = None
    protocol.send_queue = deque()
    protocol.trafficStats = TrafficStats()
    protocol.logOctets = False
    protocol.peer = "tcp:127.0.0.1:1"
    return protocol


def test_a_room_frame_is_framed_once_and_written_to_every_open_daphne_socket():
    server = Server(application=None, endpoints=["tcp:port=0"])  # never started: only its handle_reply
    sockets = [_socket(), _socket()]
    writers = [room_writer(functools.partial(server.handle_reply, socket_)) for socket_ in sockets]
    assert None not in writers
    text = '{"event":"chatMessage","data":{"message":"héllo"}}'
    payload = text.encode()
    for write in writers:
        write(text)
    frame = bytes([0x81, len(payload)]) + payload  # FIN + text opcode, unmasked, short length
    assert [socket_.transport.written for socket_ in sockets] == [[frame], [frame]]
    sockets[1].state = sockets[1].STATE_CLOSING  # a closing socket takes nothing more
    writers[1](text)
    assert sockets[1].transport.written == [frame]


def test_another_servers_send_keeps_its_own_path():
    async def send(message):
        return None

    assert room_writer(send) is None
    assert room_writer(functools.partial(send)) is None


class _Reactor:
    """What a Twisted connection asks of its reactor when it writes: to be woken when writable."""

    def __init__(self):
        self.writers = []

    def addWriter(self, descriptor):
        if descriptor not in self.writers:  # a set, as in every reactor
            self.writers.append(descriptor)

    def removeWriter(self, descriptor):
        if descriptor in self.writers:
            self.writers.remove(descriptor)


def _connection_pair():
    from twisted.internet import tcp
    from twisted.internet.protocol import Protocol

    server_side, client_side = socket.socketpair()
    connection = tcp.Connection(server_side, Protocol(), reactor=_Reactor())
    connection.connected = True
    return connection, client_side


def _received(client_side, size: int) -> bytes:
    client_side.setblocking(True)
    client_side.settimeout(5)
    data = b""
    while len(data) < size:
        data += client_side.recv(size - len(data))
    return data


def test_a_write_with_nothing_queued_goes_straight_to_the_socket():
    twisted_write_through()
    connection, client_side = _connection_pair()
    connection.write(b"frame-1")
    connection.write(b"frame-2")
    assert connection.reactor.writers == []  # no wake-up asked: nothing was buffered
    assert _received(client_side, 14) == b"frame-1frame-2"


def test_what_the_socket_does_not_take_is_buffered_and_later_writes_queue_behind_it():
    twisted_write_through()
    connection, client_side = _connection_pair()
    big = bytes(range(256)) * 40_000  # 10 MB: far more than the socket's buffers take
    connection.write(big)
    assert connection.reactor.writers == [connection]  # the rest waits in Twisted's buffer
    connection.write(b"after")  # data is waiting: this one queues behind it, never jumps ahead
    received = b""
    client_side.setblocking(False)
    while len(received) < len(big) + 5:  # the reactor's part: write whenever the socket takes more
        connection.doWrite()
        try:
            received += client_side.recv(1 << 20)
        except BlockingIOError:
            pass
    assert received == big + b"after"
    assert connection.reactor.writers == []  # all sent: the wake-up is cancelled


def test_tls_and_closing_connections_keep_twisteds_buffer():
    twisted_write_through()
    connection, client_side = _connection_pair()
    connection.disconnecting = True  # loseConnection() was called: Twisted flushes, then closes
    connection.write(b"last words")
    assert connection.reactor.writers == [connection]
    connection, client_side = _connection_pair()
    connection.TLS = True
    sent = []
    connection.protocol.write = sent.append  # the TLS layer encrypts, then writes the ciphertext
    connection.write(b"secret")
    assert sent == [b"secret"]
