"""Addresses, names and category lists as the mailing list keeps them: normalised and checked.

Addresses are checked for syntax only (email-validator, no DNS) and normalised: the local part
as written, the domain in lower-case ASCII (IDNA), so ``Ann@Example.ORG`` and ``Ann@example.org``
are one recipient. Local parts with non-ASCII letters need SMTPUTF8 end to end and are refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from bulletin.errors import StoreError
from bulletin.store.schema import ledger

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]*")
# A dot-atom local part of letters, digits and a few marks; a domain of LDH labels ending in
# a letter-only top-level label. email-validator accepts every such address as it is, domain
# lower-cased, except under the special-use top-level names it refuses (RFC 6761) and where a
# label holds "--" (reserved for Punycode, RFC 5891).
_PLAIN_ADDRESS = re.compile(
    r"(?P<local>[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*)@"
    r"(?P<domain>(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63})"
)


def normalize_address(text: str) -> str:
    """``text`` as the list stores it, or a StoreError saying what is wrong with it."""
    _check_text(text, "the address")
    plain = _plain_address(text.strip())
    if plain is not None:
        return plain
    try:
        checked = validate_email(text.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as error:
        raise StoreError(f"{text!r} is not a usable email address: {error}") from None
    return str(checked.ascii_email)


def _plain_address(text: str) -> str | None:
    """The common address in the form email-validator would give it, without asking it (it
    takes some 25 microseconds an address: half a second for a list of twenty thousand);
    None for anything less plain, which email-validator then judges."""
    match = _PLAIN_ADDRESS.fullmatch(text)
    if match is None or len(text) > 254:
        return None
    domain = match["domain"].lower()
    if domain.rsplit(".", 1)[-1] in SPECIAL_USE_DOMAIN_NAMES or "--" in domain:
        return None
    if match["local"].lower() in CASE_INSENSITIVE_MAILBOX_NAMES:
        return None  # postmaster@, abuse@, www@...: email-validator lower-cases those
    return f"{match['local']}@{domain}"


def _check_text(text: str, what: str) -> None:
    """Refuse text that holds bytes that were not UTF-8: a command line decodes them as lone
    surrogates (Python's surrogateescape), which no database or mail header can hold."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        code = ord(bad.group())
        byte = f"byte 0x{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else "a lone surrogate"
        raise StoreError(
            f"{what} {text.encode('utf-8', 'replace').decode()[:60]!r} holds {byte}, which is "
            "not UTF-8",
            hint="give it as UTF-8 text (check the terminal's or the file's encoding)",
        )


def check_name(name: str) -> str:
    """A display name, trimmed; line breaks and control characters are refused (they could
    start a new mail header), and so is text that was not UTF-8."""
    _check_text(name, "the name")
    if _CONTROL.search(name):
        raise StoreError(f"the name {name[:60]!r} contains a line break or control character")
    return " ".join(name.split())[:200]


def categories_text(categories: Iterable[str] | None) -> str | None:
    """Categories as stored: sorted, comma-separated slugs; None for every category."""
    if categories is None:
        return None
    slugs = sorted({c.strip().lower() for c in categories if c.strip()})
    for slug in slugs:
        if not _SLUG.fullmatch(slug):
            raise StoreError(f"{slug!r} is not a category slug (like local-news)")
    text = ",".join(slugs)
    # It names the recipient's variant of the digest in the ledger, whose column has a limit.
    limit = getattr(ledger.c.variant.type, "length", None) or len(text)
    if len(text) > limit:
        raise StoreError(f"the categories {text[:60]}... are longer than {limit} characters")
    return text or None


def parse_categories(text: str | None) -> frozenset[str] | None:
    """Stored categories back as a set of slugs; None for every category."""
    return frozenset(text.split(",")) if text else None
