"""An invalid ``grpc-timeout`` is named in plain words, never as a Python bytes repr."""

from __future__ import annotations

import pytest

from mux.server.grpcwire import parse_grpc_timeout


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (b"abc", '"abc"'),
        (b"123456789S", '"123456789S"'),
        (b"1\x00'm", '"1\\x00\'m"'),
        (b"9" * 60, '"' + "9" * 40 + '..."'),
    ],
)
def test_invalid_grpc_timeout_is_quoted_plainly(value: bytes, shown: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_grpc_timeout(value)
    message = str(info.value)
    assert message == f"invalid grpc-timeout {shown}: 1-8 digits and a unit H/M/S/m/u/n"
    assert "b'" not in message and 'b"' not in message


def test_valid_values_still_parse() -> None:
    assert parse_grpc_timeout(b"100m") == pytest.approx(0.1)
    assert parse_grpc_timeout(b"2S") == 2
