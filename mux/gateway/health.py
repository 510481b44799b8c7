"""Active health checks: a small state machine per endpoint, one Trio task each.

Theory of operation
-------------------
When a cluster has a :class:`~mux.gateway.model.HealthCheck`, every endpoint
gets a checker task (started by :func:`mux.gateway.cluster.open_clusters`, in
its nursery) that loops: wait ``interval`` times a random factor in
``[1 - jitter, 1 + jitter]`` (so checks of many gateways do not align), run
one check bounded by ``timeout``, feed the result to the endpoint's
:class:`HealthState`. The task ends when the endpoint leaves the cluster (DNS)
or the nursery closes.

:class:`HealthState` is pure: ``unhealthy_threshold`` consecutive failures
mark a healthy endpoint unhealthy; ``healthy_threshold`` consecutive
successes mark an unhealthy one healthy again; anything else only moves the
counters. Endpoints start healthy (traffic flows at once; passive outlier
detection covers the first seconds), and the balancer skips unhealthy ones.

The checks, on their own connection (never the traffic pool, so a saturated
pool does not fail its own checks, and a check never takes a request's slot):

* ``tcp``: the TCP connection (and TLS handshake) succeeds;
* ``http``: ``GET path`` over the cluster's upstream protocol (HTTP/1.1, h2 or
  mux) answers a 2xx status;
* ``grpc``: ``grpc.health.v1.Health/Check`` over the cluster's protocol (h2
  in practice) answers ``grpc-status`` 0 with ``status == SERVING``. The
  protobuf messages are tiny and encoded by hand (no protoc step):
  ``HealthCheckRequest`` is field 1 ``service`` (string, wire type 2: tag byte
  ``0x0a``, varint length, UTF-8 bytes; omitted when empty) and
  ``HealthCheckResponse`` is field 1 ``status`` (enum, wire type 0: tag byte
  ``0x08``, varint; ``SERVING`` = 1). Unknown fields in the response are
  skipped by wire type, as protobuf requires.

A check connection is an SDK client (:class:`mux_client.Client` over a
one-connection :class:`~mux_client.channel.Channel`), kept open between checks
(Envoy's ``reuse_connection``): a dead upstream fails the check through the
connection closing, a live one costs one small request per interval.
"""

from __future__ import annotations

import logging
import random

import attrs
import trio

from mux.gateway.model import HealthCheck, HealthCheckKind
from mux.server.grpcwire import CONTENT_TYPE, MessageDecoder, encode_message
from mux_client.channel import Channel, ChannelOptions
from mux_client.client import Client
from mux_client.errors import CallError

logger = logging.getLogger("mux.gateway.health")

#: ``grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING``.
SERVING = 1
GRPC_HEALTH_PATH = "/grpc.health.v1.Health/Check"


@attrs.define
class HealthState:
    """The active-check verdict of one endpoint (pure)."""

    healthy: bool = True
    successes: int = 0
    failures: int = 0
    #: Why the last check failed (for the admin snapshot).
    last_error: str | None = None

    def record(self, ok: bool, config: HealthCheck, error: str | None = None) -> bool:
        """Record one check; True when the verdict changed."""
        if ok:
            self.successes += 1
            self.failures = 0
            self.last_error = None
            if not self.healthy and self.successes >= config.healthy_threshold:
                self.healthy = True
                return True
            return False
        self.failures += 1
        self.successes = 0
        self.last_error = error
        if self.healthy and self.failures >= config.unhealthy_threshold:
            self.healthy = False
            return True
        return False


def next_wait(config: HealthCheck, rng: random.Random) -> float:
    """Seconds until the next check: the interval with jitter applied."""
    return config.interval * rng.uniform(1 - config.jitter, 1 + config.jitter)


# ------------------------------------------------------------- gRPC protobuf


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def encode_check_request(service: str) -> bytes:
    """``HealthCheckRequest{service}`` as protobuf bytes."""
    if not service:
        return b""
    raw = service.encode("utf-8")
    return b"\x0a" + _varint(len(raw)) + raw


def decode_check_response(data: bytes) -> int:
    """The ``status`` of a ``HealthCheckResponse`` (0 = UNKNOWN when absent).

    Raises:
        ValueError: malformed protobuf.
    """
    pos, status = 0, 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _read_varint(data, pos)
            if field == 1:
                status = value
        elif wire == 2:
            length, pos = _read_varint(data, pos)
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(data):
            raise ValueError("truncated protobuf field")
    return status


# -------------------------------------------------------------------- checks


class Checker:
    """Runs the checks of one endpoint over its own connection."""

    def __init__(
        self, target: str, config: HealthCheck, options: ChannelOptions, nursery: trio.Nursery
    ) -> None:
        self.target = target
        self.config = config
        self._options = attrs.evolve(options, max_connections=1, max_requests=None, max_age=None)
        self._nursery = nursery
        self._client: Client | None = None

    def _get_client(self) -> Client:
        if self._client is None:
            channel = Channel(self.target, self._nursery, self._options)
            self._client = Client(channel, max_attempts=1, default_timeout=self.config.timeout)
        return self._client

    async def check(self) -> str | None:
        """Run one check; None when it passed, else why it failed."""
        kind = self.config.kind
        try:
            with trio.fail_after(self.config.timeout):
                if kind is HealthCheckKind.TCP:
                    return await self._tcp()
                if kind is HealthCheckKind.HTTP:
                    return await self._http()
                return await self._grpc()
        except trio.TooSlowError:
            await self._reset()
            return f"no answer within {self.config.timeout}s"
        except (CallError, OSError, trio.BrokenResourceError) as exc:
            await self._reset()
            return str(exc)

    async def _tcp(self) -> str | None:
        host, _, port = self.target.rpartition(":")
        stream = await trio.open_tcp_stream(host.strip("[]"), int(port))
        await trio.aclose_forcefully(stream)
        return None

    async def _http(self) -> str | None:
        response = await self._get_client().request("GET", self.config.path)
        if 200 <= response.status < 300:
            return None
        return f"GET {self.config.path} answered {response.status}"

    async def _grpc(self) -> str | None:
        body = encode_message(encode_check_request(self.config.service))
        headers = [("content-type", CONTENT_TYPE.decode()), ("te", "trailers")]
        response = await self._get_client().request(
            "POST", GRPC_HEALTH_PATH, body=body, headers=headers
        )
        if response.status != 200:
            return f"gRPC health check answered HTTP {response.status}"
        grpc_status = response.header("grpc-status")
        if grpc_status != b"0":
            message = (response.header("grpc-message") or b"").decode("utf-8", "replace")
            return f"gRPC health check failed: grpc-status {grpc_status!r} {message}".strip()
        try:
            messages = MessageDecoder().feed(response.body)
            status = decode_check_response(messages[0]) if messages else 0
        except ValueError as exc:
            return f"gRPC health check: bad response: {exc}"
        if status != SERVING:
            return f"gRPC health status is {status}, not SERVING"
        return None

    async def _reset(self) -> None:
        """Drop the check connection after a failure (the next check reconnects)."""
        client, self._client = self._client, None
        if client is not None:
            with trio.CancelScope(shield=True):
                await client.channel.aclose()

    async def aclose(self) -> None:
        await self._reset()


__all__ = [
    "GRPC_HEALTH_PATH",
    "SERVING",
    "Checker",
    "HealthState",
    "decode_check_response",
    "encode_check_request",
    "next_wait",
]
