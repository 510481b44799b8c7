"""mux_client: the Python client SDK for mux servers (Trio-native, plus a blocking API).

Quick start::

    async with mux_client.connect("127.0.0.1:8080") as client:
        resp = await client.request("POST", "/echo", body=b"hi", timeout=1.5)
        async with client.stream("GET", "/stream/10") as call:
            async for chunk in call:
                ...

    with mux_client.SyncClient("127.0.0.1:8080") as client:   # scripts, notebooks
        print(client.request("GET", "/bytes/10").body)
        with client.stream("GET", "/stream/3") as call:
            for chunk in call:
                ...

Responses read like httpx's: ``resp.headers["content-type"]`` (a
case-insensitive :class:`HeaderMap`; ``bytes`` keys give the wire bytes),
``resp.text``, ``resp.json()``.

Every failure is a :class:`CallError` (a :class:`mux.errors.MuxError`) whose
``processed`` attribute says whether the server may have acted on the request.
"""

from __future__ import annotations

from mux_client.backoff import BackoffPolicy
from mux_client.calls import Call, Response
from mux_client.channel import ChannelOptions
from mux_client.client import Client, connect
from mux_client.errors import (
    CallError,
    CallReset,
    ClientClosedError,
    ConnectError,
    ConnectionLost,
    DeadlineExceeded,
    MessageError,
    Processed,
    StatusError,
)
from mux_client.headers import HeaderMap
from mux_client.sync import SyncCall, SyncClient

__all__ = [
    "BackoffPolicy",
    "Call",
    "CallError",
    "CallReset",
    "ChannelOptions",
    "Client",
    "ClientClosedError",
    "ConnectError",
    "ConnectionLost",
    "DeadlineExceeded",
    "HeaderMap",
    "MessageError",
    "Processed",
    "Response",
    "StatusError",
    "SyncCall",
    "SyncClient",
    "connect",
]
