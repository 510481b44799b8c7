"""The thin trio layer around the sans-IO engines.

:class:`ConnectionDriver` runs one engine over one ``trio.abc.Stream`` (client
or server side); :class:`Stream` is the one stream abstraction every caller
(handlers, the client SDK, the gateway) uses, whatever the framing.
"""

from __future__ import annotations

from mux.driver.connection import ConnectionDriver, StreamHandler
from mux.driver.stream import Stream

__all__ = ["ConnectionDriver", "Stream", "StreamHandler"]
