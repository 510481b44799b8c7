"""The sans-IO protocol cores: bytes in, events out, bytes to send.

Nothing under ``mux.core`` imports trio, socket or ssl (``tests/core/test_sans_io.py``
enforces it). Every engine (mux/msgpack, HTTP/2, HTTP/1.1) implements
:class:`mux.core.engine.Engine` and speaks the events of :mod:`mux.core.events`.
"""
