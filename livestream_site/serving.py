"""Tuning of the libraries under the ASGI server (daphne's WebSocket layer), applied as the application loads."""


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
