"""Incremental decoder: bytes in, raw frames out (no connection state).

Theory of operation
-------------------
:class:`FrameDecoder` turns a byte stream into :class:`~mux.core.frames.Frame`
objects (spec/mux-protocol.md "Preface" and "Frame header"). It is used on its
own by the conformance runner and, through :meth:`FrameDecoder.next_raw`, by
:class:`mux.core.connection.MuxConnection`.

Invariants:

* With ``expect_preface`` the first 8 bytes must be the preface: a wrong magic
  is ``PROTOCOL_ERROR``, the right magic with another version byte is
  :class:`~mux.errors.UnsupportedVersionError` (``peer_version`` records it).
* A frame's ``length`` is checked against ``max_frame_size`` as soon as its 10
  header bytes are in, *before* any payload is buffered, so a 4 GB length
  prefix costs 10 bytes of memory (:class:`~mux.errors.FrameSizeError`).
* Buffering: when the previous input was consumed entirely, new input is kept
  as the caller's ``bytes`` object without copying and payloads are sliced
  from it (one copy per payload, zero when one frame fills the input; none
  for DATA through :meth:`FrameDecoder.next_view`, which hands out views). Only a
  partial frame is moved into a ``bytearray``, which then grows by amortized
  appends, so a peer trickling one byte at a time costs O(n), not O(n^2).
  When new input completes that frame, only the bytes completing it are
  appended; the rest of the input is kept uncopied as ``_tail`` and parsed
  once the completed frame is taken (so a bulk read that splits a frame costs
  one frame's copy, not a copy of the whole read). The buffer never holds
  more than one unfinished frame beyond what the caller fed.
* Partial DATA (``partial_data = True``, set by the connection): once a DATA
  header is in (and its length checked), its payload is handed out piece by
  piece as it arrives instead of being buffered until complete. The first
  piece comes with type DATA, later pieces with :data:`DATA_PIECE`; after
  each, :attr:`FrameDecoder.data_left` says how many payload bytes of that
  frame are still to come (0: this piece ends the frame). A piece that is a
  whole input ``bytes`` object is handed out as that object (zero copy).
* Read sizing (:meth:`FrameDecoder.next_read_size`): inside a DATA payload of
  at least :data:`BULK_PIECE` bytes still to come, the best next read is
  exactly that rest, so the read holds payload only and is handed out as the
  read's own ``bytes`` (no copy, one event); right after a DATA frame of at
  least :data:`BULK_FRAME` bytes, with nothing buffered, the best next read is
  the next frame's 10-byte header alone, so its payload is read aligned too.
  While a payload is skipped the hint is the caller's default (bytes that
  are dropped gain nothing from alignment).
  A driver may follow the hint or ignore it; the decoding is the same.
* Skipped payloads (``max_buffered`` set, as the connection does): a non-DATA
  frame whose header announces more than ``max_buffered`` (and at most
  ``max_frame_size``) bytes is never buffered. Its payload is consumed as it
  arrives, keeping only the first :data:`KEEP` bytes; once all of it is in,
  the frame comes out with an :class:`Oversized` payload (its ``len()`` is the
  announced length). From the moment a drain (``next_*``) reads the header,
  input is never appended to a ``bytearray`` for that frame: the decoder
  holds at most :data:`KEEP` bytes of it plus the caller's current input
  (when the caller drains after each :meth:`FrameDecoder.receive_data`, as
  the connection does), so a peer announcing 1 MiB HEADERS, SETTINGS, GOAWAY
  or unknown frames cannot make a connection hold them. The receiver decides
  from the length (and the kept prefix for GOAWAY), which is all that spec
  Sections 3.3/4 need for such a frame. DATA is never skipped.
* After an error the decoder is poisoned: every later call re-raises it.
"""

from __future__ import annotations

from typing import Final

import attrs

from mux.core.frames import (
    FRAME_HEADER_SIZE,
    HEADER_STRUCT,
    PREFACE_MAGIC,
    PREFACE_SIZE,
    STREAM_ID_MASK,
    VERSION,
    Frame,
    FrameType,
)
from mux.errors import (
    ErrorCode,
    FrameSizeError,
    RemoteProtocolError,
    UnsupportedVersionError,
)

#: Bytes kept from the start of a skipped payload: a GOAWAY's 8 fixed bytes
#: plus 256 bytes of debug data (spec Section 4.6: senders keep it shorter).
KEEP: Final = 8 + 256


@attrs.frozen
class Oversized:
    """The payload of a non-DATA frame skipped instead of buffered.

    It stands in for the payload bytes: ``len()`` is the announced length
    (more than the decoder's ``max_buffered``, so never 0: it is truthy) and
    :attr:`prefix` holds the first :data:`KEEP` payload bytes.
    """

    #: The payload length announced by the frame header.
    length: int
    #: The first :data:`KEEP` bytes of the payload.
    prefix: bytes

    def __len__(self) -> int:
        return self.length


#: A decoded frame as a plain tuple: (type, flags, stream id, payload).
RawFrame = tuple[int, int, int, bytes | Oversized]
#: Like :data:`RawFrame`, but a DATA payload may be a view of the input.
ViewFrame = tuple[int, int, int, bytes | memoryview | Oversized]

#: Frame type whose payload :meth:`FrameDecoder.next_view` may hand out as a view.
_DATA: Final = int(FrameType.DATA)

#: Pseudo frame type of a later piece of a partially received DATA frame.
DATA_PIECE: Final = -1

_unpack_header = HEADER_STRUCT.unpack_from

#: DATA payload still to come from which :meth:`FrameDecoder.next_read_size`
#: asks for exactly the rest of it.
BULK_PIECE: Final = 65536
#: DATA frames from this size on are read header first (bulk transfer).
BULK_FRAME: Final = 131072


class FrameDecoder:
    """Split a byte stream into frames, enforcing the frame size limit early.

    Args:
        max_frame_size: the largest payload accepted (our MAX_FRAME_SIZE);
            may be changed later through the ``max_frame_size`` attribute.
        expect_preface: consume and check the 8-byte preface first.

    Attributes:
        max_frame_size: current payload limit in bytes.
        max_buffered: largest non-DATA payload buffered whole; a longer one
            is skipped and comes out as :class:`Oversized`. None (the
            default): every payload up to ``max_frame_size`` is buffered.
        peer_version: the version byte of the peer's preface once read.
    """

    __slots__ = (
        "_buf",
        "_bulk",
        "_error",
        "_keep",
        "_piece_flags",
        "_piece_sid",
        "_pos",
        "_preface_pending",
        "_skip",
        "_skip_left",
        "_tail",
        "_tail_pos",
        "data_left",
        "max_buffered",
        "max_frame_size",
        "partial_data",
        "partial_length",
        "partial_serial",
        "peer_version",
    )

    def __init__(self, max_frame_size: int, *, expect_preface: bool = True) -> None:
        self.max_frame_size = max_frame_size
        self.peer_version: int | None = None
        self._preface_pending = expect_preface
        self._buf: bytes | bytearray = b""
        self._pos = 0
        # Input after the frame completed in ``_buf`` (see the module doc).
        self._tail: bytes | bytearray = b""
        self._tail_pos = 0
        self._error: RemoteProtocolError | None = None
        self.partial_data = False
        #: Payload bytes of the current DATA frame not yet handed out.
        self.data_left = 0
        #: Length of the last DATA frame handed out in pieces, and how many such
        #: frames have started (a frame timer's progress, see MuxConnection).
        self.partial_length = self.partial_serial = 0
        self._piece_flags = self._piece_sid = 0
        #: The last DATA frame was at least BULK_FRAME bytes long.
        self._bulk = False
        self.max_buffered: int | None = None
        #: (type, flags, stream id, length) of the frame being skipped, if any.
        self._skip: tuple[int, int, int, int] | None = None
        #: Payload bytes of the skipped frame not received yet.
        self._skip_left = 0
        #: The kept start of the skipped payload (at most KEEP bytes).
        self._keep = b""

    @property
    def mid_frame(self) -> bool:
        """Whether a frame has started arriving and is not complete yet."""
        return bool(self.data_left or self._skip is not None or self.buffered)

    @property
    def buffered(self) -> int:
        """Bytes held that were received but not yet returned as frames.

        A skipped payload counts only with the bytes kept of it (at most
        :data:`KEEP`); the rest was dropped as it arrived.
        """
        held = len(self._buf) - self._pos + len(self._tail) - self._tail_pos
        return held + len(self._keep) if self._skip is not None else held

    def next_read_size(self, default: int) -> int:
        """How many bytes the next read should ask for (see the module doc).

        Args:
            default: the caller's usual read size, returned when alignment
                brings nothing.
        """
        if self._skip is not None:
            return default  # skipped bytes are dropped: no point in aligning
        if self.data_left:
            # Payload bytes of the current DATA frame not received yet.
            rest = self.data_left - (len(self._buf) - self._pos)
            return rest if rest >= BULK_PIECE else default
        if self._bulk and not self.buffered:
            return FRAME_HEADER_SIZE
        return default

    def take_piece(self, data: bytes) -> ViewFrame | None:
        """``data`` as the next piece of the DATA frame under way, if it is all payload.

        The fast path of an aligned bulk read: when everything received so far
        has been handed out and ``data`` holds no more than the rest of the
        current DATA payload, it comes back at once as a :data:`DATA_PIECE`
        (the very object, uncopied) without going through :meth:`receive_data`
        and :meth:`next_view`. Otherwise None, and nothing changes.
        """
        if (
            not self.data_left
            or len(data) > self.data_left
            or self._pos < len(self._buf)
            or self._tail
            or self._error is not None
        ):
            return None
        self.data_left -= len(data)
        self._buf, self._pos = data, len(data)
        return DATA_PIECE, self._piece_flags, self._piece_sid, data

    def receive_data(self, data: bytes) -> None:
        """Append received bytes (never copies more than an unfinished frame)."""
        if not data:
            return
        if self._tail:
            # A completed frame still waits in ``_buf``: keep the order.
            self._tail = self._tail[self._tail_pos :] + data
            self._tail_pos = 0
            return
        if self._skip_left:
            # Drop what the caller fed without draining (normally nothing).
            self._skip_some()
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            self._buf = data
            self._pos = 0
            return
        missing = self._missing(buf, pos)
        if 0 < missing < len(data):
            # ``data`` completes the frame: copy only what completes it.
            if isinstance(buf, bytearray):
                head = buf
                del head[:pos]
            else:
                head = bytearray(memoryview(buf)[pos:])
            head += memoryview(data)[:missing]
            self._buf, self._pos = head, 0
            self._tail, self._tail_pos = data, missing
        elif isinstance(buf, bytearray):
            if pos:
                del buf[:pos]
                self._pos = 0
            buf += data
        else:
            grown = bytearray(buf[pos:])
            grown += data
            self._buf = grown
            self._pos = 0

    def _missing(self, buf: bytes | bytearray, pos: int) -> int:
        """Bytes the unfinished frame at ``pos`` still needs (0: unknown yet)."""
        if self.data_left:  # ``buf[pos:]`` is payload of a partially handed-out DATA frame
            return self.data_left - (len(buf) - pos)
        if self._preface_pending or len(buf) - pos < FRAME_HEADER_SIZE:
            return 0
        length: int = _unpack_header(buf, pos)[0]
        if length > self.max_frame_size:
            return 0  # next_raw reports it
        return pos + FRAME_HEADER_SIZE + length - len(buf)

    def next_frame(self) -> Frame | None:
        """Return the next complete frame, or None when more bytes are needed.

        Only for ``max_buffered = None`` (a :class:`Frame` holds bytes): with
        skipping on, use :meth:`next_raw` or :meth:`next_view`.

        Raises:
            TypeError: a skipped frame came out (``max_buffered`` is set).
            FrameSizeError: a frame header announced more than ``max_frame_size``.
            UnsupportedVersionError: the preface names another version.
            RemoteProtocolError: PROTOCOL_ERROR for a wrong preface magic.
            The decoder keeps raising the same error afterwards.
        """
        raw = self.next_raw()
        if raw is None:
            return None
        payload = raw[3]
        if isinstance(payload, Oversized):
            raise TypeError("next_frame cannot carry a skipped payload; use next_raw")
        return Frame(raw[0], raw[1], raw[2], payload)

    def next_raw(self) -> RawFrame | None:
        """Like :meth:`next_frame` but returns a plain tuple."""
        raw = self.next_view()
        if raw is None:
            return None
        payload = raw[3]
        if type(payload) is memoryview:
            payload = bytes(payload)
        return raw[0], raw[1], raw[2], payload

    def next_view(self) -> ViewFrame | None:
        """Like :meth:`next_raw`, but a DATA payload sliced from an input
        ``bytes`` object comes as a zero-copy ``memoryview`` of it (the hot
        path: the receiver joins a run of DATA payloads with one copy)."""
        if self._error is not None:
            raise self._error
        if self._preface_pending and not self._read_preface():
            return None
        if self.data_left:
            return self._next_piece()
        if self._skip is not None:
            return self._next_skipped(self._skip)
        buf = self._buf
        pos = self._pos
        available = len(buf) - pos
        if available < FRAME_HEADER_SIZE:
            if not self._tail or available:
                return None
            buf = self._buf = self._tail
            pos = self._pos = self._tail_pos
            self._tail, self._tail_pos = b"", 0
            if len(buf) - pos < FRAME_HEADER_SIZE:
                return None
        length, ftype, flags, stream_id = _unpack_header(buf, pos)
        if length > self.max_frame_size:
            self._error = FrameSizeError(
                f"frame of type {ftype} on stream {stream_id & STREAM_ID_MASK} announces "
                f"length {length}, max frame size {self.max_frame_size}"
            )
            raise self._error
        end = pos + FRAME_HEADER_SIZE + length
        start = pos + FRAME_HEADER_SIZE
        if ftype == _DATA:
            self._bulk = length >= BULK_FRAME
        elif self.max_buffered is not None and length > self.max_buffered:
            self._pos = start
            skip = self._skip = ftype, flags, stream_id & STREAM_ID_MASK, length
            self._skip_left = length
            return self._next_skipped(skip)
        if end > len(buf):
            if ftype != _DATA or not self.partial_data:
                return None
            self._pos = start
            self.data_left = self.partial_length = length
            self.partial_serial += 1
            self._piece_flags, self._piece_sid = flags, stream_id & STREAM_ID_MASK
            return _DATA, flags, self._piece_sid, self._take(buf, start)
        payload: bytes | memoryview
        if type(buf) is bytes:
            # bytes never change, so a view of them stays valid.
            payload = memoryview(buf)[start:end] if ftype == _DATA else buf[start:end]
        else:
            with memoryview(buf) as view:
                payload = bytes(view[start:end])
        self._pos = end
        return ftype, flags, stream_id & STREAM_ID_MASK, payload

    def _next_piece(self) -> ViewFrame | None:
        """The next piece of the partially received DATA frame, if any arrived."""
        buf = self._buf
        pos = self._pos
        if pos >= len(buf):
            return None
        return DATA_PIECE, self._piece_flags, self._piece_sid, self._take(buf, pos)

    def _take(self, buf: bytes | bytearray, start: int) -> bytes | memoryview:
        """Hand out up to ``data_left`` payload bytes from ``start`` of ``buf``."""
        end = min(len(buf), start + self.data_left)
        self.data_left -= end - start
        self._pos = end
        if type(buf) is bytes:
            if start == 0 and end == len(buf):
                return buf
            return memoryview(buf)[start:end]
        with memoryview(buf) as view:
            return bytes(view[start:end])

    def _next_skipped(self, skip: tuple[int, int, int, int]) -> ViewFrame | None:
        """Drop what arrived of the skipped payload; the frame once it is all in."""
        if self._skip_left:
            self._skip_some()
            if self._skip_left:
                return None
        payload = Oversized(skip[3], self._keep)
        self._skip = None
        self._keep = b""
        return skip[0], skip[1], skip[2], payload

    def _skip_some(self) -> None:
        """Consume the skipped payload's bytes held from ``_pos`` (keep up to KEEP)."""
        buf = self._buf
        pos = self._pos
        n = min(len(buf) - pos, self._skip_left)
        room = KEEP - len(self._keep)
        if room > 0 and n:
            self._keep += bytes(buf[pos : pos + min(room, n)])
        self._skip_left -= n
        if self._skip_left:
            # All of ``_buf`` was payload (and ``_tail`` is empty: a frame
            # completed in ``_buf`` would not still miss bytes): let it go.
            self._buf, self._pos = b"", 0
        else:
            self._pos = pos + n

    def _read_preface(self) -> bool:
        buf = self._buf
        pos = self._pos
        have = len(buf) - pos
        prefix = bytes(buf[pos : pos + min(have, len(PREFACE_MAGIC))])
        if not PREFACE_MAGIC.startswith(prefix):
            self._error = RemoteProtocolError(
                f"bad preface: expected magic {PREFACE_MAGIC!r}, got {prefix!r}",
                ErrorCode.PROTOCOL_ERROR,
            )
            raise self._error
        if have < PREFACE_SIZE:
            return False
        version = buf[pos + len(PREFACE_MAGIC)]
        self.peer_version = version
        self._pos = pos + PREFACE_SIZE
        self._preface_pending = False
        if version != VERSION:
            self._error = UnsupportedVersionError(
                f"unsupported version {version}; supported: {VERSION}"
            )
            raise self._error
        return True
