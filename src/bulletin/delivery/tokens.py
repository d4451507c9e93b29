"""Signed tokens for links: an identifier that reveals nothing, and its HMAC-SHA256 (RFC 2104).

A token is ``<identifier>.<MAC>``. The identifier is the recipient's link id, 128 random bits
the store keeps for them (22 characters of base64url): proxy logs, referrers and forwarded
links learn nothing from it about who the reader is, and only the store maps it back. The
MAC is the first 128 bits of HMAC-SHA256 over a version label, the token's *purpose* and the
identifier, in unpadded base64url (RFC 4648 section 5). Naming the purpose in what is signed
keeps the uses of one key apart: the unsubscribe link signs ``unsubscribe``; a preferences page
or a VERP bounce address will sign the same identifier for their own purpose, and a token
made for one is refused by the others. (A bounce address may have its case folded on the
way back: it will want a case-free spelling of the same bytes, such as base32.)

A token has one spelling only: padding, characters outside the alphabet, another case, or
other unused bits in the MAC's last character are refused, never decoded to the same bytes
(Python's base64 decoder quietly skips what it does not know). Tokens are safe in URLs, mail
headers and subject lines.

The first tokens carried the address itself (``<address, base64url>.<MAC>``);
``verify_address`` still accepts them, in their one spelling too, so the unsubscribe links
already sent keep working. Nothing makes them any more.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

UNSUBSCRIBE = "unsubscribe"

_VERSION = b"bulletin-link-v2\x00"
_PURPOSE = re.compile(r"[a-z][a-z-]{0,39}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{16,64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{1,1000}")
_FIRST_FORMAT = b"bulletin-unsubscribe\x00"  # what the first tokens signed before the address


def sign(key: bytes, purpose: str, identifier: str) -> str:
    """The token standing for ``identifier`` in links made for ``purpose``."""
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError(f"not a link identifier: {identifier!r}")
    return f"{identifier}.{_encode(_mac(key, purpose, identifier))}"


def verify(key: bytes, purpose: str, token: str) -> str | None:
    """The identifier of a genuine token made for ``purpose``; None for any other text."""
    identifier, dot, mac = token.partition(".")
    if not dot or not _IDENTIFIER.fullmatch(identifier):
        return None
    # Comparing the text with the one spelling of the right MAC refuses every other spelling.
    expected = _encode(_mac(key, purpose, identifier))
    return identifier if hmac.compare_digest(mac.encode(), expected.encode()) else None


def verify_address(key: bytes, token: str) -> str | None:
    """The address a genuine unsubscribe token of the first format names; None otherwise."""
    who, dot, mac = token.partition(".")
    if not dot or not _BASE64URL.fullmatch(who):
        return None
    try:
        address = base64.urlsafe_b64decode(who + "=" * (-len(who) % 4)).decode("utf-8")
    except (ValueError, binascii.Error):  # UnicodeDecodeError is a ValueError
        return None
    if not address or _encode(address.encode()) != who:
        return None
    expected = _encode(hmac.digest(key, _FIRST_FORMAT + address.encode(), "sha256")[:16])
    return address if hmac.compare_digest(mac.encode(), expected.encode()) else None


def _mac(key: bytes, purpose: str, identifier: str) -> bytes:
    if not _PURPOSE.fullmatch(purpose):  # a NUL or a dot in it could blur the fields
        raise ValueError(f"not a token purpose: {purpose!r}")
    message = _VERSION + purpose.encode() + b"\x00" + identifier.encode()
    return hmac.digest(key, message, "sha256")[:16]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
