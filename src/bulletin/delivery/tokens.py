"""Unsubscribe tokens: a recipient's address signed with HMAC-SHA256 (RFC 2104).

A token is ``<address, base64url>.<first 128 bits of the MAC, base64url>``: it names whom it
unsubscribes, so it works for as long as the key is kept, and nobody without the key can make
one for another address. It is safe in URLs, mail headers and subject lines.
"""

from __future__ import annotations

import base64
import binascii
import hmac

_PURPOSE = b"bulletin-unsubscribe\x00"


def sign(key: bytes, address: str) -> str:
    """The unsubscribe token for ``address``."""
    return f"{_encode(address.encode())}.{_encode(_mac(key, address))}"


def verify(key: bytes, token: str) -> str | None:
    """The address a genuine token names; None for a forged, altered or malformed one."""
    who, _, mac = token.strip().partition(".")
    try:
        address = _decode(who).decode("utf-8")
        given = _decode(mac)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    if not address or not hmac.compare_digest(given, _mac(key, address)):
        return None
    return address


def _mac(key: bytes, address: str) -> bytes:
    return hmac.digest(key, _PURPOSE + address.encode(), "sha256")[:16]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    if not text or len(text) > 1000:
        raise ValueError("empty or too long")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
