"""Frame-aligned reads of large DATA payloads, in few scheduler rounds.

Theory of operation
-------------------
The engine's ``next_read_size`` hint (:meth:`mux.core.codec.FrameDecoder.next_read_size`)
says when the next bytes on the wire are the rest of a large DATA payload, or
the 10-byte header of the frame after one. :class:`BulkReader` reads those on a
plain TCP socket:

* **payload**: :meth:`BulkReader.read` sets the socket's receive low-water mark
  (``SO_RCVLOWAT``) to the bytes wanted, waits until the kernel reports the
  socket readable (it then holds them all, or EOF, or an error), and reads
  them with one ``read(2)``. One wake-up and one syscall per payload, instead
  of one per partial arrival; the read is the payload's own ``bytes``, handed
  to the application uncopied. The bytes are safe to wait for: the peer
  already sent the frame header and owes the payload; a peer that stalls
  mid-frame is caught by the driver's frame timer as before.
* **header**: tried at once, without a scheduler round (after a payload the
  next header usually came with it).
* **burst**: after a wake-up the reader goes on with the frames already in
  (:meth:`BulkReader.take`) up to :data:`BURST` bytes before it waits again.

Linux caps the mark at half the receive buffer and wakes early when the
advertised TCP window is about to close, so a large mark never deadlocks.
Where the option is missing or refused (not Linux, or not a TCP socket),
:meth:`BulkReader.for_transport` returns None and the driver reads as usual.
"""

from __future__ import annotations

import os
import socket
import sys

import trio

_SO_RCVLOWAT: int | None = getattr(socket, "SO_RCVLOWAT", None)
try:
    import fcntl
    import termios

    #: ioctl asking how many bytes a socket holds (POSIX).
    _FIONREAD: int | None = termios.FIONREAD
except ImportError:  # pragma: no cover - not POSIX
    _FIONREAD = None
_INT = bytes(4)
#: Bytes the reader may read without yielding once it woke up (see BulkReader.read).
BURST = 1 << 20


class BulkReader:
    """Aligned reads of one TCP socket (created by the reader task, never stored)."""

    __slots__ = ("_burst", "_fd", "_lowat", "_sock")

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self._sock = sock
        self._fd = sock.fileno()
        self._lowat = 1
        self._burst = 0

    @classmethod
    def for_transport(cls, transport: trio.abc.Stream) -> BulkReader | None:
        """A reader for a plain TCP socket stream where SO_RCVLOWAT works, else None."""
        if _SO_RCVLOWAT is None or type(transport) is not trio.SocketStream:
            return None
        sock = transport.socket
        try:
            sock.setsockopt(socket.SOL_SOCKET, _SO_RCVLOWAT, 1)  # probe: the default mark
        except OSError:
            return None
        return cls(sock)

    def set_low_water(self, size: int) -> None:
        """Report the socket readable only once ``size`` bytes are in (1: any byte)."""
        if size != self._lowat:
            self._sock.setsockopt(socket.SOL_SOCKET, _SO_RCVLOWAT, size)  # type: ignore[arg-type]
            self._lowat = size

    def read_now(self, size: int) -> bytes | None:
        """Up to ``size`` bytes if any are there (``b""``: EOF); None: none yet.

        Raises:
            trio.BrokenResourceError: the socket failed.
        """
        try:
            return os.read(self._fd, size)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket receive failed: {exc!r}") from exc

    def take(self, size: int, payload: bool) -> bytes | None:
        """Read ``size`` bytes now if they are in, without waiting; else None.

        A frame header (``payload`` false) is tried directly. A payload is read
        only when all of it is in (``FIONREAD``) and the reader has not read
        :data:`BURST` bytes since it last waited: payloads queued behind each
        other then cost one wake-up per burst, and the tasks they wake take
        several chunks per step. A header read may come back short or empty
        (EOF); a payload read never comes back short.

        Raises:
            trio.BrokenResourceError: the socket failed.
        """
        if not payload:
            return self.read_now(size)
        if self._burst < size or _FIONREAD is None:
            return None
        try:
            ready = int.from_bytes(fcntl.ioctl(self._fd, _FIONREAD, _INT), sys.byteorder)
        except OSError:
            return None
        if ready < size:
            return None
        data = self.read_now(size)
        if data is not None:
            self._burst -= len(data)
        return data

    async def read(self, size: int) -> bytes:
        """Wait until ``size`` bytes (or EOF) are in, then read them in one call.

        Raises:
            trio.BrokenResourceError: the socket failed.
            trio.ClosedResourceError: the socket was closed meanwhile.
        """
        self._burst = BURST
        self.set_low_water(size)
        while True:
            await trio.lowlevel.wait_readable(self._sock)
            data = self.read_now(size)
            if data is not None:
                return data

    def reset(self) -> None:
        """Back to plain wake-ups (any byte)."""
        self.set_low_water(1)
