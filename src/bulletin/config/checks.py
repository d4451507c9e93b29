"""Values of config.yaml checked for what they will be used as: text, mail headers, URLs.

A control character in a value (YAML's escapes can write a NUL into a path) used to end in a
traceback far from the file; a line break in a value that goes into a mail header would start
a new header in every message (header injection); a URL with a space gives a List-Unsubscribe
header that mail readers flag as defective. Each passed ``config check`` and failed only at
send time. Each is now a problem of the file, at its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from bulletin.config.schema import Config

Where = tuple[Any, ...]  # keys and list indexes from the top, as in yaml_doc

# Controls but tab and line ends, which multi-line text (a description) may hold.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# What other text may hold but a mail header may not: it is one line (the other controls
# are refused in every value).
_HEADER_CONTROL = re.compile("[\t\n\r]")
# What RFC 3986 lets a URL hold (unreserved, reserved and percent); the rest is encoded.
_URL_CHARACTER = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# RFC 2919: a list id is dot-atom text, with at least one dot (label "." namespace).
_LIST_ID = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)+")
_ADDRESS = re.compile(r"[^@\s<>\"(),;:\[\]]+@[^@\s<>\"(),;:\[\]]+")

#: Values that are written into every message's headers.
HEADER_VALUES: tuple[Where, ...] = (
    ("site", "title"),
    ("site", "base_url"),
    ("digest", "subject"),
    ("delivery", "from_address"),
    ("delivery", "from_name"),
    ("delivery", "list_id"),
    ("delivery", "unsubscribe_url"),
    ("delivery", "unsubscribe_mailto"),
)
#: Values that are URLs.
URL_VALUES: tuple[Where, ...] = (("site", "base_url"), ("delivery", "unsubscribe_url"))


def _character(char: str) -> str:
    names = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab", " ": "a space"}
    return f"{names.get(char, 'the character')} (U+{ord(char):04X})"


def control_problems(data: Any, where: Where = ()) -> Iterator[tuple[Where, str]]:
    """Every key or text value of the raw data holding a control character."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and _CONTROL.search(key):
                found = _CONTROL.search(key)
                assert found is not None
                yield where, f"a key holds {_character(found.group())}: remove it"
            yield from control_problems(value, (*where, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from control_problems(value, (*where, index))
    elif isinstance(data, str):
        found = _CONTROL.search(data)
        if found is not None:
            yield (
                where,
                (
                    f"holds {_character(found.group())}, which no setting may hold "
                    "(a YAML escape such as \\0 or \\x07 writes one): remove it"
                ),
            )


def _value(config: Config, where: Where) -> Any:
    value: Any = config
    for part in where:
        value = getattr(value, str(part))
    return value


def header_problems(config: Config) -> Iterator[tuple[Where, str]]:
    """Values going into mail headers or URLs that cannot stand there."""
    one_line = "it goes into every message's headers, which must be one line each"
    for where in HEADER_VALUES:
        value = _value(config, where)
        if not isinstance(value, str):
            continue
        if found := _HEADER_CONTROL.search(value):
            yield where, f"holds {_character(found.group())}: {one_line}"
        elif where in URL_VALUES:
            yield from _url_problems(where, value)
        elif where == ("delivery", "list_id") and not _LIST_ID.fullmatch(value):
            yield where, f'expected a list id like "digest.example.org" (RFC 2919), got "{value}"'
        elif where == ("delivery", "unsubscribe_mailto") and not _ADDRESS.fullmatch(value):
            yield where, f'expected an email address, got "{value}"'
    for index, recipient in enumerate(config.delivery.recipients):
        if found := _HEADER_CONTROL.search(recipient.name):
            where = ("delivery", "recipients", index, "name")
            yield where, f"holds {_character(found.group())}: it goes into the To header, one line"


def _url_problems(where: Where, url: str) -> Iterator[tuple[Where, str]]:
    if not re.match(r"https?://[^/\s]", url):
        yield where, f'expected an absolute http(s) URL, got "{url}"'
        return
    for char in url:
        if not _URL_CHARACTER.match(char):
            yield (
                where,
                (
                    f'"{url}" holds {_character(char)}, which a URL cannot hold: percent-encode it '
                    f"(%{'%'.join(f'{b:02X}' for b in char.encode())}), or write a host name in "
                    "its xn-- form"
                ),
            )
            return
    if _PERCENT.search(url):
        yield where, f'"{url}" holds a "%" not followed by two hex digits: write it as %25'
