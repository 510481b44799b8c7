"""HTTPError carries a final error status (400..599); a bad one never resets the stream.

The constructor refuses anything else at once (the handler's traceback shows where);
an HTTPError whose status was changed afterwards still gets the client a 500 with a
clear body and the server one log line, over a real loopback connection.
"""

from __future__ import annotations

import logging
from http import HTTPStatus

import pytest
import trio
from conftest import Harness

from mux.driver import ConnectionDriver
from mux.server.app import HTTPError, Request, Response, Router

BAD_STATUSES = [-1, 0, 42, 99, 100, 101, 103, 199, 200, 204, 302, 399, 600, 700, 10**6]


@pytest.mark.parametrize("status", BAD_STATUSES)
def test_constructor_refuses_a_status_that_is_not_a_final_error(status: int) -> None:
    with pytest.raises(ValueError, match=rf"HTTPError status must be .*400\.\.599.*got {status}$"):
        HTTPError(status, "message")


@pytest.mark.parametrize("status", [True, 404.0, "404", None])
def test_constructor_refuses_a_status_that_is_not_an_int(status: object) -> None:
    with pytest.raises(TypeError, match="HTTPError status must be an int"):
        HTTPError(status, "message")  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [400, 404, 418, 499, 500, 503, 599])
def test_constructor_keeps_a_valid_error_status(status: int) -> None:
    error = HTTPError(status, "why")
    assert (error.status, error.message, str(error)) == (status, "why", "why")


def test_constructor_accepts_http_status_and_stores_a_plain_int() -> None:
    error = HTTPError(HTTPStatus.TOO_MANY_REQUESTS)
    assert type(error.status) is int and error.status == 429
    assert error.message == "Too Many Requests"


def test_message_defaults_to_the_reason_phrase() -> None:
    assert HTTPError(404).message == "Not Found"
    assert HTTPError(599).message == "Error 599"  # no standard phrase


def _mutated(status: int) -> HTTPError:
    error = HTTPError(404, "not here")
    error.status = status  # a later bug: the constructor cannot see it
    return error


def _router(slow_started: trio.Event, release: trio.Event) -> Router:
    router = Router()

    @router.route("/raise/{status}")
    async def raise_status(request: Request) -> Response:
        raise HTTPError(int(request.path_params["status"]), "bad status")

    @router.route("/mutated/{status}")
    async def raise_mutated(request: Request) -> Response:
        raise _mutated(int(request.path_params["status"]))

    @router.route("/slow")
    async def slow(request: Request) -> Response:
        slow_started.set()
        await release.wait()
        return Response.text(200, "slow done")

    return router


async def _start(harness: Harness) -> tuple[ConnectionDriver, trio.Event, trio.Event]:
    slow_started, release = trio.Event(), trio.Event()
    server = await harness.server(_router(slow_started, release))
    return await harness.client(server.port), slow_started, release


def _mux_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.startswith("mux") and r.levelno >= logging.WARNING]


@pytest.mark.parametrize("status", [42, 103, 700])
async def test_handler_raising_a_bad_status_gets_a_500_and_a_traceback_to_its_bug(
    harness: Harness, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    client, _, _ = await _start(harness)
    with trio.fail_after(5):
        code, _, body = await harness.request(client, f"/raise/{status}", method="GET")
    assert (code, body) == (500, b"internal server error\n")
    [record] = _mux_warnings(caplog)
    assert record.exc_info is not None  # the traceback points at the handler's raise
    assert isinstance(record.exc_info[1], ValueError) and f"got {status}" in str(record.exc_info[1])


@pytest.mark.parametrize("status", [42, 103, 200, 302, 700])
async def test_mutated_status_gets_a_500_one_log_line_and_the_connection_serves_on(
    harness: Harness, caplog: pytest.LogCaptureFixture, status: int
) -> None:
    client, slow_started, release = await _start(harness)
    slow = await client.open_stream([(b":method", b"GET"), (b":path", b"/slow")], True)
    with trio.fail_after(5):
        await slow_started.wait()
        code, headers, body = await harness.request(client, f"/mutated/{status}", method="GET")
        assert code == 500
        assert body == f"internal server error: invalid HTTPError status {status}\n".encode()
        assert dict(headers)[b"content-type"] == b"text/plain; charset=utf-8"
        [record] = _mux_warnings(caplog)
        assert record.exc_info is None and f"status {status}" in record.getMessage()
        # Other streams on the same connection: one in flight, one new.
        release.set()
        assert dict(await slow.receive_headers())[b":status"] == b"200"
        assert b"".join([chunk async for chunk in slow]) == b"slow done"
        assert (await harness.request(client, "/raise/404", method="GET"))[:1] == (404,)


async def test_mutated_status_on_grpc_is_internal(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    client, _, _ = await _start(harness)
    grpc = [(b"content-type", b"application/grpc")]
    with trio.fail_after(5):
        code, headers, body = await harness.request(
            client, "/mutated/700", method="GET", headers=grpc
        )
    assert (code, body) == (200, b"")
    assert dict(headers)[b"grpc-status"] == b"13"  # INTERNAL, not UNKNOWN for "700"
    [record] = _mux_warnings(caplog)
    assert record.exc_info is None
