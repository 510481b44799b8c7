"""PROXY protocol v1 (text) and v2 (binary) headers: a sans-IO parser.

Theory of operation
-------------------
A proxy in TCP mode (HAProxy ``send-proxy``/``send-proxy-v2``, AWS NLB, ...)
opens each connection to us with one header naming the client it relays for
(HAProxy's ``doc/proxy-protocol.txt``). A listener configured for it calls
:func:`parse` on the bytes received so far until it returns a
:class:`ProxyHeader` and the number of bytes it used (the rest belongs to the
real protocol), ``None`` (need more bytes) or raises :class:`ProxyProtocolError`
with a message naming the problem. Nothing here does I/O; the caller bounds
the wait (the handshake timeout) and closes the connection on an error.

Accepted, per the spec:

* v1: ``PROXY TCP4|TCP6 <src> <dst> <sport> <dport>\\r\\n`` or
  ``PROXY UNKNOWN[ anything]\\r\\n``, at most :data:`V1_MAX_LENGTH` (107) bytes
  including the CRLF; exactly one space between fields, canonical addresses
  (IPv4 without leading zeros, plain hexadecimal IPv6 without zone or embedded
  IPv4), ports 0..65535 without leading zeros. A lone CR or LF is refused as
  soon as it is seen.
* v2: the 12-byte signature, version 2, command LOCAL (0) or PROXY (1),
  family UNSPEC/INET/INET6/UNIX and transport UNSPEC/STREAM/DGRAM, a 16-bit
  length bounded by ``max_length`` (:data:`V2_MAX_LENGTH` by default) and
  checked before anything waits for the body; the address block must be long
  enough for its family; the rest is a sequence of TLVs (type, 16-bit length,
  value) that must fit exactly and is returned undecoded (none is interpreted;
  a CRC32C TLV is not verified).

What the fields mean: a LOCAL command (a health check from the proxy itself),
a v1 ``UNKNOWN`` and a v2 UNSPEC family or transport carry no usable address
(``source``/``dest`` are ``None``; the receiver uses the real connection's
endpoints, as the spec asks). :attr:`ProxyHeader.client` is the relayed
client as ``(host, port)`` for TCP/UDP over IPv4/IPv6 only.

Anything else, including bytes that are not a PROXY header at all, is a
:class:`ProxyProtocolError`: a listener that expects the header must not guess
whether it is present (spec section 2). :func:`signature_state` tells a
listener that does *not* expect it whether the first bytes are one (so it can
refuse them instead of handing them to HTTP/1.1).
"""

from __future__ import annotations

import ipaddress
from typing import Final, Literal

import attrs

#: The v1 prefix ("PROXY" and its one space).
V1_PREFIX: Final = b"PROXY "
#: Longest v1 line, CRLF included (the spec's worst case, ``PROXY UNKNOWN`` + two IPv6).
V1_MAX_LENGTH: Final = 107
#: The v2 signature (12 bytes; the 5th is NUL).
V2_SIGNATURE: Final = b"\r\n\r\n\x00\r\nQUIT\n"
#: The fixed v2 header: signature, version/command, family/transport, length.
V2_HEADER_LENGTH: Final = 16
#: Default bound on the v2 length field (address block + TLVs), bytes.
V2_MAX_LENGTH: Final = 4096
#: Address block sizes of v2 families (INET, INET6, UNIX).
_V2_ADDRESS_SIZES: Final = {1: 12, 2: 36, 3: 216}
_UNIX_PATH_SIZE: Final = 108

Family = Literal["TCP4", "TCP6", "UDP4", "UDP6", "UNIX", "UNIX_DGRAM", "UNKNOWN"]
Command = Literal["LOCAL", "PROXY"]
#: ``(host, port)`` for IP families, the path for UNIX.
Address = tuple[str, int] | str

_V2_FAMILIES: Final[dict[tuple[int, int], Family]] = {
    (1, 1): "TCP4",
    (1, 2): "UDP4",
    (2, 1): "TCP6",
    (2, 2): "UDP6",
    (3, 1): "UNIX",
    (3, 2): "UNIX_DGRAM",
}


class ProxyProtocolError(ValueError):
    """The bytes are not a valid PROXY protocol header (the message says why)."""


@attrs.frozen(slots=True)
class ProxyHeader:
    """A parsed PROXY protocol header.

    Attributes:
        version: 1 (text) or 2 (binary).
        command: ``"PROXY"`` (relayed; always for v1) or ``"LOCAL"`` (the
            proxy's own connection, e.g. a health check: use the real endpoints).
        family: the relayed connection's family, ``"UNKNOWN"`` when none applies
            (v1 UNKNOWN, v2 UNSPEC, and every LOCAL header).
        source: the relayed client (``None`` when ``family`` is ``"UNKNOWN"``).
        dest: the address the client connected to (``None`` likewise).
        tlvs: v2 type-length-value extensions as ``(type, value)``, in order.
    """

    version: Literal[1, 2]
    command: Command
    family: Family
    source: Address | None = None
    dest: Address | None = None
    tlvs: tuple[tuple[int, bytes], ...] = ()

    @property
    def client(self) -> tuple[str, int] | None:
        """The relayed client as ``(host, port)`` (IP families only), else ``None``."""
        if self.command == "PROXY" and isinstance(self.source, tuple):
            return self.source
        return None


def signature_state(data: bytes) -> bool | None:
    """Whether ``data`` starts with a PROXY header signature (v1 or v2).

    Returns:
        ``True``: it does; ``False``: it cannot; ``None``: ``data`` is still a
        strict prefix of a signature (more bytes needed to tell).
    """
    for signature in (V1_PREFIX, V2_SIGNATURE):
        head = data[: len(signature)]
        if signature.startswith(head):
            return True if len(head) == len(signature) else None
    return False


def parse(data: bytes, *, max_length: int = V2_MAX_LENGTH) -> tuple[ProxyHeader, int] | None:
    """Parse the PROXY header at the start of ``data``.

    Args:
        data: every byte received on the connection so far.
        max_length: the largest v2 length field accepted (bytes after the
            16-byte fixed header).

    Returns:
        ``(header, consumed)`` with the number of bytes the header used, or
        ``None`` when ``data`` is a valid but incomplete beginning.

    Raises:
        ProxyProtocolError: ``data`` does not start with a valid header.
    """
    if not data:
        return None
    state = signature_state(data)
    if state is False:
        shown = data[:16]
        raise ProxyProtocolError(f"not a PROXY protocol header (starts with {shown!r})")
    if data[0] == V2_SIGNATURE[0]:
        return None if state is None else _parse_v2(data, max_length)
    return _parse_v1(data)


# ---------------------------------------------------------------- version 1


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    window = data[:V1_MAX_LENGTH]
    end = window.find(b"\r\n")
    # A lone CR or LF anywhere before the CRLF is malformed: refuse it now.
    lone = _lone_line_break(window) if end < 0 else _lone_line_break(window[:end] + b"\r\n")
    if lone is not None:
        raise ProxyProtocolError(f"PROXY v1 line has a lone {lone} (CRLF expected)")
    if end < 0:
        if len(data) >= V1_MAX_LENGTH:
            raise ProxyProtocolError(
                f"PROXY v1 line without CRLF in its first {V1_MAX_LENGTH} bytes"
            )
        return None
    fields = window[:end].split(b" ")
    proto = fields[1] if len(fields) > 1 else b""
    if proto == b"UNKNOWN":  # the rest of the line is ignored, as the spec asks
        return ProxyHeader(version=1, command="PROXY", family="UNKNOWN"), end + 2
    if not window[:end].isascii():
        raise ProxyProtocolError("PROXY v1 line is not US-ASCII")
    if proto not in (b"TCP4", b"TCP6"):
        raise ProxyProtocolError(f"PROXY v1 protocol must be TCP4, TCP6 or UNKNOWN, got {proto!r}")
    if len(fields) != 6:
        raise ProxyProtocolError(
            f"PROXY v1 {proto.decode()} line needs 5 fields after PROXY separated by single "
            f"spaces, got {len(fields) - 1}"
        )
    v6 = proto == b"TCP6"
    source = _v1_address(fields[2], v6, "source")
    dest = _v1_address(fields[3], v6, "destination")
    sport = _v1_port(fields[4], "source")
    dport = _v1_port(fields[5], "destination")
    family: Family = "TCP6" if v6 else "TCP4"
    header = ProxyHeader(
        version=1, command="PROXY", family=family, source=(source, sport), dest=(dest, dport)
    )
    return header, end + 2


def _lone_line_break(data: bytes) -> str | None:
    """``"LF"``/``"CR"`` when ``data`` holds a line break that is not part of a CRLF."""
    body = data[:-2] if data.endswith(b"\r\n") else data
    if b"\n" in body:
        return "LF"
    cr = body.find(b"\r")
    if 0 <= cr < len(data) - 1:  # a CR as the very last byte may still get its LF
        return "CR"
    return None


def _v1_address(raw: bytes, v6: bool, which: str) -> str:
    text = raw.decode("ascii")
    try:
        if v6:
            if "%" in text or "." in text:
                raise ValueError("zone ids and embedded IPv4 are not canonical")
            return str(ipaddress.IPv6Address(text))
        return str(ipaddress.IPv4Address(text))  # refuses leading zeros
    except ValueError:
        kind = "IPv6" if v6 else "IPv4"
        raise ProxyProtocolError(
            f"PROXY v1 {which} address {raw!r} is not an {kind} address"
        ) from None


def _v1_port(raw: bytes, which: str) -> int:
    valid = raw.isdigit() and len(raw) <= 5 and (raw == b"0" or not raw.startswith(b"0"))
    if not valid or int(raw) > 65535:
        raise ProxyProtocolError(
            f"PROXY v1 {which} port {raw!r} must be 0..65535 in decimal without leading zeros"
        )
    return int(raw)


# ---------------------------------------------------------------- version 2


def _parse_v2(data: bytes, max_length: int) -> tuple[ProxyHeader, int] | None:
    if len(data) < V2_HEADER_LENGTH:
        _check_v2_fixed(data)
        return None
    command = _check_v2_fixed(data)
    family_byte = data[13]
    length = int.from_bytes(data[14:16], "big")
    if length > max_length:
        raise ProxyProtocolError(f"PROXY v2 header length {length} exceeds the limit {max_length}")
    total = V2_HEADER_LENGTH + length
    if len(data) < total:
        return None
    fam, transport = family_byte >> 4, family_byte & 0x0F
    family: Family = _V2_FAMILIES.get((fam, transport), "UNKNOWN")
    if command == "LOCAL" or family == "UNKNOWN":
        # The block is ignored (its layout, hence where TLVs start, is unknown).
        return ProxyHeader(version=2, command=command, family="UNKNOWN"), total
    block = data[V2_HEADER_LENGTH:total]
    size = _V2_ADDRESS_SIZES[fam]
    if len(block) < size:
        raise ProxyProtocolError(
            f"PROXY v2 address block of family {family} needs {size} bytes, got {len(block)}"
        )
    tlvs = _parse_tlvs(block[size:])
    source, dest = _v2_addresses(fam, block[:size])
    header = ProxyHeader(
        version=2, command=command, family=family, source=source, dest=dest, tlvs=tlvs
    )
    return header, total


def _check_v2_fixed(data: bytes) -> Command:
    """Validate version, command, family and transport as soon as they arrived."""
    if len(data) <= 12:
        return "PROXY"
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2:
        raise ProxyProtocolError(f"PROXY v2 signature with version {version} (2 expected)")
    if command > 1:
        raise ProxyProtocolError(f"PROXY v2 command {command:#x} is neither LOCAL nor PROXY")
    if len(data) > 13:
        fam, transport = data[13] >> 4, data[13] & 0x0F
        if fam > 3:
            raise ProxyProtocolError(f"PROXY v2 address family {fam:#x} is not defined")
        if transport > 2:
            raise ProxyProtocolError(f"PROXY v2 transport protocol {transport:#x} is not defined")
    return "LOCAL" if command == 0 else "PROXY"


def _v2_addresses(fam: int, block: bytes) -> tuple[Address, Address]:
    if fam == 3:
        return _unix_path(block[:_UNIX_PATH_SIZE]), _unix_path(block[_UNIX_PATH_SIZE:])
    width = 4 if fam == 1 else 16
    ports = block[2 * width :]
    make = ipaddress.IPv4Address if fam == 1 else ipaddress.IPv6Address
    source = (str(make(block[:width])), int.from_bytes(ports[:2], "big"))
    dest = (str(make(block[width : 2 * width])), int.from_bytes(ports[2:4], "big"))
    return source, dest


def _unix_path(raw: bytes) -> str:
    """A NUL-padded sun_path; an abstract name (leading NUL) is shown with ``@``."""
    if raw[:1] == b"\x00":
        return "@" + raw[1:].rstrip(b"\x00").decode("utf-8", "replace")
    return raw.split(b"\x00", 1)[0].decode("utf-8", "replace")


def _parse_tlvs(data: bytes) -> tuple[tuple[int, bytes], ...]:
    tlvs: list[tuple[int, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 3:
            raise ProxyProtocolError(
                f"PROXY v2 TLV at offset {offset} is truncated ({len(data) - offset} bytes left)"
            )
        kind = data[offset]
        size = int.from_bytes(data[offset + 1 : offset + 3], "big")
        start = offset + 3
        if start + size > len(data):
            raise ProxyProtocolError(
                f"PROXY v2 TLV type {kind:#04x} claims {size} bytes, only "
                f"{len(data) - start} remain in the header"
            )
        tlvs.append((kind, data[start : start + size]))
        offset = start + size
    return tuple(tlvs)
