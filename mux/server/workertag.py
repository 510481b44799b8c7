"""The ``mux-worker`` response header: which worker process answered.

Theory of operation
-------------------
With ``--workers N`` (N > 1) or ``--worker-header``, the CLI wraps the
application in :func:`tag_responses` before serving it. The wrapper hands the
handler a :class:`Request` whose :meth:`~Request.respond` appends the header to
the response head (streaming handlers), and appends it to a returned
:class:`Response` (unary handlers). The cost is one extra object and one
header per request, and nothing at all when the header is off. Responses the
server makes by itself (a 500 for a crashed handler, an :class:`HTTPError`'s
status) do not carry it.
"""

from __future__ import annotations

import attrs

from mux.core.events import Headers
from mux.server.app import Handler, HeadersLike, Request, Response, ResponseWriter, to_headers


class _TaggedRequest(Request):
    """A :class:`Request` whose response head gains one more header."""

    __slots__ = ("_tag",)

    def __init__(self, request: Request, tag: tuple[bytes, bytes]) -> None:
        super().__init__(request.stream)
        self.path_params = request.path_params
        self._tag = tag

    async def respond(
        self, status: int = 200, headers: HeadersLike | None = None
    ) -> ResponseWriter:
        """Send the response headers (plus the tag) and return a writer for the body."""
        tagged: Headers = [*to_headers(headers), self._tag]
        return await super().respond(status, tagged)


def tag_responses(handler: Handler, name: bytes, value: bytes) -> Handler:
    """``handler`` whose responses carry the header ``name: value``."""
    tag = (name.lower(), value)

    async def tagged(request: Request) -> Response | None:
        response = await handler(_TaggedRequest(request, tag))
        if response is None:
            return None
        return attrs.evolve(response, headers=[*response.headers, tag])

    return tagged
