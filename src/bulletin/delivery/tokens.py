"""Signed tokens for links: an identifier that reveals nothing, and its HMAC-SHA256 (RFC 2104).

A token is ``<identifier>.<MAC>``. The identifier is the recipient's link id, 128 random bits
the store keeps for them (22 characters of base64url): proxy logs, referrers and forwarded
links learn nothing from it about who the reader is, and only the store maps it back. The
MAC is the first 128 bits of HMAC-SHA256 over a version label, the token's *purpose* and the
identifier, in unpadded base64url (RFC 4648 section 5). Naming the purpose in what is signed
keeps the uses of one key apart: the unsubscribe link signs ``unsubscribe``; a preferences page
will sign the same identifier for its own purpose, and a token made for one is refused by the
others.

A bounce token (``sign_bounce``) names a day as well as the recipient, and goes in the local
part of a VERP return path (``bounces+<token>@news.example.org``), which mail servers may
case-fold on the way back and which RFC 5321 4.5.3.1.1 caps at 64 characters. So it is one
case-free base32 word (RFC 4648 section 6, lower-case, unpadded) of 45 characters: the day,
the link id's 16 bytes and 80 bits of HMAC-SHA256 over the purpose ``bounce``, the link id
and the day. Eighty bits are plenty for a token that can only be tried by mailing it.

A *stamped* token (``sign_stamped``) also names an instant, in whole seconds since 1970 in
decimal, signed with the rest: ``<identifier>.<seconds>.<MAC>``. The purpose says what the
instant means: when a ``confirm`` link (a sign-up's id) or a ``preferences`` link (a
recipient's link id) stops working, or when a sign-up ``form`` was served (a random id), so
that a post sooner than a person could type is told apart.

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
from datetime import UTC, date, datetime, timedelta

UNSUBSCRIBE = "unsubscribe"
BOUNCE = "bounce"
CONFIRM = "confirm"  # stamped with its expiry: confirms one sign-up
PREFERENCES = "preferences"  # stamped with its expiry: a reader's "manage your subscription"
FORM = "form"  # stamped with the time the sign-up form was served
BOUNCE_TOKEN_LENGTH = 45  # base32 characters of 2 + 16 + 10 bytes

_VERSION = b"bulletin-link-v2\x00"
_PURPOSE = re.compile(r"[a-z][a-z-]{0,39}")
_IDENTIFIER = re.compile(r"[A-Za-z0-9_-]{16,64}")
_SECONDS = re.compile(r"[1-9][0-9]{0,11}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]{1,1000}")
_FIRST_FORMAT = b"bulletin-unsubscribe\x00"  # what the first tokens signed before the address
_BASE32 = re.compile(rf"[a-z2-7]{{{BOUNCE_TOKEN_LENGTH}}}")
_EPOCH = date(2000, 1, 1)  # a bounce token's day is counted from here, in two bytes (to 2179)
_BOUNCE_MAC = 10


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


def sign_stamped(key: bytes, purpose: str, identifier: str, instant: datetime) -> str:
    """The token standing for ``identifier`` and ``instant`` (to the second) for ``purpose``."""
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError(f"not a link identifier: {identifier!r}")
    stamp = f"{identifier}.{int(instant.timestamp())}"
    return f"{stamp}.{_encode(_mac(key, purpose, stamp))}"


def verify_stamped(key: bytes, purpose: str, token: str) -> tuple[str, datetime] | None:
    """The identifier and instant of a genuine stamped token for ``purpose``; None otherwise.

    Whether the instant is still good is the caller's to judge: it knows what it means.
    """
    stamp, dot, mac = token.rpartition(".")
    identifier, middle, seconds = stamp.partition(".")
    if not dot or not middle or not _IDENTIFIER.fullmatch(identifier):
        return None
    if not _SECONDS.fullmatch(seconds):  # no sign, no leading zero: one spelling
        return None
    expected = _encode(_mac(key, purpose, stamp))
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    return identifier, datetime.fromtimestamp(int(seconds), UTC)


def verify_until(key: bytes, purpose: str, token: str, now: datetime) -> tuple[str | None, str]:
    """For a token stamped with its expiry: the identifier and "", or None and why not
    ("invalid": forged or damaged; "expired")."""
    found = verify_stamped(key, purpose, token)
    if found is None:
        return None, "invalid"
    identifier, expires = found
    return (None, "expired") if expires < now else (identifier, "")


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


def sign_bounce(key: bytes, identifier: str, day: date) -> str | None:
    """The bounce token naming ``day``'s digest to the recipient with link id ``identifier``;
    None for an identifier that is not the 16 bytes the store draws."""
    raw = _link_bytes(identifier)
    offset = (day - _EPOCH).days
    if raw is None or not 0 <= offset < 1 << 16:
        return None
    payload = offset.to_bytes(2, "big") + raw
    mac = _bounce_mac(key, identifier, day)
    return base64.b32encode(payload + mac).decode("ascii").rstrip("=").lower()


def verify_bounce(key: bytes, token: str) -> tuple[str, date] | None:
    """The link id and day a genuine bounce token names, in either case; None otherwise."""
    word = token.lower()
    if not _BASE32.fullmatch(word):
        return None
    data = base64.b32decode(word.upper() + "===")
    # Unused bits in the last character would give other spellings of the same bytes.
    if base64.b32encode(data).decode("ascii").rstrip("=").lower() != word:
        return None
    day = _EPOCH + timedelta(days=int.from_bytes(data[:2], "big"))
    identifier = _encode(data[2:18])
    expected = _bounce_mac(key, identifier, day)
    return (identifier, day) if hmac.compare_digest(data[18:], expected) else None


def _link_bytes(identifier: str) -> bytes | None:
    """A link id's 16 bytes, if it is the canonical base64url of 16 bytes."""
    if not _IDENTIFIER.fullmatch(identifier) or len(identifier) != 22:
        return None
    raw = base64.urlsafe_b64decode(identifier + "==")
    return raw if _encode(raw) == identifier else None


def _bounce_mac(key: bytes, identifier: str, day: date) -> bytes:
    message = _VERSION + BOUNCE.encode() + b"\x00" + identifier.encode() + b"\x00"
    return hmac.digest(key, message + day.isoformat().encode(), "sha256")[:_BOUNCE_MAC]


def _mac(key: bytes, purpose: str, identifier: str) -> bytes:
    if not _PURPOSE.fullmatch(purpose):  # a NUL or a dot in it could blur the fields
        raise ValueError(f"not a token purpose: {purpose!r}")
    message = _VERSION + purpose.encode() + b"\x00" + identifier.encode()
    return hmac.digest(key, message, "sha256")[:16]


def _encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")
