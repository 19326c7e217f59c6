"""Room frames under daphne: framed once, written straight to each open socket."""

import functools
from collections import deque

from autobahn.websocket.protocol import TrafficStats
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from livestream_site.serving import room_writer


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
