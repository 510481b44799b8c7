"""HTTP/1.1 is named wherever the protocols are: ``mux call --help`` and ``connect``'s doc."""

from __future__ import annotations

import subprocess
import sys

import mux_client
from mux_client.transport import PROTOCOLS


def test_connect_docstring_names_every_sdk_protocol() -> None:
    doc = mux_client.connect.__doc__ or ""
    for protocol in PROTOCOLS:
        assert f'``"{protocol}"``' in doc, protocol


def test_mux_call_help_names_http1() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mux", "call", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    text = " ".join(done.stdout.split())
    assert "--protocol mux|h2|h1|http1" in text
    assert "h1, also spelled http1 as in the SDK (HTTP/1.1 keep-alive)" in text
