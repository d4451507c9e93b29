"""What a message in the bounce mailbox is: a bounce, a complaint, an autoreply, or unknown.

``read_report`` looks, in this order, for an abuse report (RFC 5965: a
``message/feedback-report`` part), a delivery status notification (RFC 3464: a
``message/delivery-status`` part, read with the standard ``email`` package: ``Action``,
``Status`` and ``Diagnostic-Code`` of each recipient), an autoreply (RFC 3834
``Auto-Submitted``, and the headers vacation programs add), and then the bounces of MTAs that
write no such report (flufl.bounce's detectors, the only user of flufl). A message whose MIME
tree is broken is not guessed at.

It also gathers the bounce tokens (``tokens.sign_bounce``) the message carries: those in the
addresses it was delivered to (the VERP return path: ``Delivered-To``, ``X-Original-To``,
``Envelope-To``, ``To``), and those anywhere in what it returned of the digest (our
``X-Bulletin-Bounce`` header, the return path in the returned headers), in a
``text/rfc822-headers`` part, a ``message/rfc822`` part or plain text alike. Whether a token
is genuine, and whom it names, is for the caller, which has the key and the mailing list.
"""

from __future__ import annotations

import email
import email.message
import email.utils
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email import errors
from typing import Literal

from bulletin.delivery.tokens import BOUNCE_TOKEN_LENGTH

Kind = Literal["hard", "soft", "complaint", "autoreply", "notice", "unknown"]
TOKEN_HEADER = "X-Bulletin-Bounce"
MAX_BYTES = 50 * 1024 * 1024  # larger mail is not read: no bounce is that big

_T = rf"([A-Za-z2-7]{{{BOUNCE_TOKEN_LENGTH}}})(?![A-Za-z2-7])"
_VERP = re.compile(rb"\+" + _T.encode() + rb"@")
_HEADER_TOKEN = re.compile(rb"(?i)" + TOKEN_HEADER.encode() + rb":\s*" + _T.encode())
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To")
_STATUS = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_REPLY = re.compile(r"\b([45])\d\d[ -]")
_DAEMON = re.compile(r"mailer-daemon|postmaster|mail delivery|mailer@|mail-daemon", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|returned mail|delivery (status|failure|has failed)|failure notice|"
    r"mail delivery failed|could not be delivered",
    re.I,
)
_AUTOREPLY_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_AUTOREPLY_SUBJECT = re.compile(r"^\s*(auto(matic)?[ -]?reply|auto:|out of (the )?office)", re.I)
# Defects after which the parts cannot be trusted to be what they say (RFC 2046 5.1).
_BROKEN = (
    errors.StartBoundaryNotFoundDefect,
    errors.CloseBoundaryNotFoundDefect,
    errors.MultipartInvariantViolationDefect,
    errors.NoBoundaryInMultipartDefect,
    errors.InvalidMultipartContentTransferEncodingDefect,
)
_COMPLAINTS = ("abuse", "fraud")  # other feedback types (not-spam, virus, ...) ask for nothing


@dataclass(frozen=True)
class Failure:
    """One recipient a bounce reports: the address it names, and how it failed."""

    address: str  # as the report writes it; "" when it names none
    permanent: bool
    status: str = ""  # the RFC 3463 code, like 5.1.1
    diagnostic: str = ""


@dataclass(frozen=True)
class Report:
    """What one message is, who it names, and why bulletin thinks so."""

    kind: Kind
    why: str  # one line for the operator
    fingerprint: str  # the message's own Message-ID, else a hash of its bytes
    failures: tuple[Failure, ...] = ()
    addresses: tuple[str, ...] = ()  # every address it names as the failed or complaining one
    envelope_tokens: tuple[str, ...] = ()
    returned_tokens: tuple[str, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)  # status, diagnostic, feedback type


def read_report(raw: bytes, recipient: str | None = None) -> Report:
    """What ``raw`` is; ``recipient``: the address it was delivered to, when the MTA says
    (a pipe's ``${original_recipient}``)."""
    if len(raw) > MAX_BYTES:
        return Report("unknown", f"larger than {MAX_BYTES >> 20} MB: not read", _hash(raw))
    message = email.message_from_bytes(raw)
    fingerprint = _fingerprint(message, raw)
    envelope = tuple(_envelope_tokens(message, recipient))
    returned = tuple(dict.fromkeys(_returned_tokens(message, raw)))
    found = _classify(message)
    return Report(
        found.kind,
        found.why,
        fingerprint,
        found.failures,
        found.addresses,
        envelope,
        tuple(token for token in returned if token not in envelope),
        found.detail,
    )


@dataclass(frozen=True)
class _Found:
    kind: Kind
    why: str
    failures: tuple[Failure, ...] = ()
    addresses: tuple[str, ...] = ()
    detail: dict[str, str] = field(default_factory=dict)


def _classify(message: email.message.Message) -> _Found:
    parts = list(message.walk())
    feedback = _part(parts, "message/feedback-report")
    if feedback is not None:
        return _feedback(feedback, parts)
    status = _part(parts, "message/delivery-status")
    if status is not None:
        return _delivery_status(status)
    broken = sorted({type(d).__name__ for p in parts for d in p.defects if isinstance(d, _BROKEN)})
    if broken:
        return _Found("unknown", f"its MIME structure is broken ({', '.join(broken)})")
    daemon = bool(_DAEMON.search(str(message.get("From", ""))))
    if not daemon and _is_autoreply(message):
        return _Found("autoreply", "an automatic reply (RFC 3834), not a bounce")
    failures = _flufl(message)
    if not failures and (daemon or _BOUNCE_SUBJECT.search(str(message.get("Subject", "")))):
        failures = _from_text(message)
    if failures:
        return _bounce(failures, "a bounce without an RFC 3464 report")
    if _is_autoreply(message):
        return _Found("autoreply", "an automatic reply (RFC 3834), not a bounce")
    return _Found("unknown", "not a bounce, complaint or autoreply that bulletin recognises")


def _part(parts: list[email.message.Message], kind: str) -> email.message.Message | None:
    return next((part for part in parts if part.get_content_type() == kind), None)


def _feedback(part: email.message.Message, parts: list[email.message.Message]) -> _Found:
    """An RFC 5965 report: its fields are the headers of the part's one sub-message."""
    fields = _blocks(part)[:1] or [email.message.Message()]
    kind = str(fields[0].get("Feedback-Type", "")).strip().lower()
    named = [_address(value) for value in fields[0].get_all("Original-Rcpt-To", [])]
    original = _original_headers(parts)
    if original is not None:
        named += [a for _, a in email.utils.getaddresses(original.get_all("To", []))]
    detail = {"feedback_type": kind or "(none)"}
    addresses = tuple(dict.fromkeys(a for a in named if "@" in a))
    if kind in _COMPLAINTS:
        return _Found("complaint", f"an {kind} report (RFC 5965)", (), addresses, detail)
    return _Found(
        "notice", f"a feedback report of type {kind or '(none)'}: nothing to do", (), (), detail
    )


def _delivery_status(part: email.message.Message) -> _Found:
    """An RFC 3464 report: a block of per-message fields, then one block per recipient."""
    failures, delivered = [], 0
    for block in _blocks(part)[1:]:
        action = str(block.get("Action", "")).strip().lower()
        status = _STATUS.search(str(block.get("Status", "")))
        diagnostic = " ".join(str(block.get("Diagnostic-Code", "")).split())
        code = status.group(0) if status else ""
        address = _address(str(block.get("Final-Recipient") or block.get("Original-Recipient", "")))
        if action in ("delivered", "relayed", "expanded") or code.startswith("2"):
            delivered += 1
        elif action in ("failed", "delayed"):
            if not code:  # RFC 3464 asks for a Status; take the diagnostic's reply code then
                reply = _REPLY.search(diagnostic)
                code = f"{reply.group(1)}.0.0" if reply else ""
            permanent = action == "failed" and not code.startswith("4")
            failures.append(Failure(address, permanent, code, diagnostic))
    if failures:
        return _bounce(failures, "an RFC 3464 delivery status notification")
    if delivered:
        return _Found("notice", "a delivery status notification of success: nothing to do")
    return _Found("unknown", "an RFC 3464 report naming no recipient's failure")


def _bounce(failures: list[Failure], what: str) -> _Found:
    worst = next((f for f in failures if f.permanent), failures[0])
    kind: Kind = "hard" if worst.permanent else "soft"
    shown = worst.status or ("permanent" if worst.permanent else "temporary")
    detail = {"status": worst.status, "diagnostic": worst.diagnostic[:300]}
    addresses = tuple(dict.fromkeys(f.address for f in failures if f.address))
    return _Found(
        kind,
        f"{what}: {shown} {worst.diagnostic[:120]}".rstrip(),
        tuple(failures),
        addresses,
        detail,
    )


def _flufl(message: email.message.Message) -> list[Failure]:
    """The failures flufl.bounce's detectors find (addresses only), with a status from text."""
    # Imported here: sends load this module too, and its detectors cost them memory for nothing.
    from flufl.bounce import all_failures

    try:
        temporary, permanent = all_failures(message)
    except Exception:  # heuristics over any mail in the wild: a detector may trip on it
        return []
    status, diagnostic = _status_in(message)
    found = [Failure(a.decode("ascii", "replace"), True, status, diagnostic) for a in permanent]
    found += [Failure(a.decode("ascii", "replace"), False, status, diagnostic) for a in temporary]
    return found


def _from_text(message: email.message.Message) -> list[Failure]:
    """A bounce from a mailer daemon with no known layout: its first status code or reply."""
    status, diagnostic = _status_in(message)
    if not status:
        return []
    return [Failure("", status.startswith("5"), status, diagnostic)]


def _status_in(message: email.message.Message) -> tuple[str, str]:
    """The first RFC 3463 status code (or SMTP reply code) in the text parts, and its line."""
    for text in _texts(message):
        for line in text.splitlines():
            found = _STATUS.search(line)
            if found and not found.group(0).startswith("2"):
                return found.group(0), " ".join(line.split())[:300]
            reply = _REPLY.search(line)
            if reply:
                return f"{reply.group(1)}.0.0", " ".join(line.split())[:300]
    return "", ""


def _is_autoreply(message: email.message.Message) -> bool:
    auto = str(message.get("Auto-Submitted", "no")).strip().lower()
    precedence = str(message.get("Precedence", "")).strip().lower()
    return (
        auto.startswith("auto-replied")
        or any(message.get(name) for name in _AUTOREPLY_HEADERS)
        or precedence == "auto_reply"
        or bool(_AUTOREPLY_SUBJECT.search(str(message.get("Subject", ""))))
    )


def _blocks(part: email.message.Message) -> list[email.message.Message]:
    payload = part.get_payload()
    return (
        [p for p in payload if isinstance(p, email.message.Message)]
        if isinstance(payload, list)
        else []
    )


def _original_headers(parts: list[email.message.Message]) -> email.message.Message | None:
    """The returned message's headers: a message/rfc822 part's, or a text/rfc822-headers part."""
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = _blocks(part)
            if inner:
                return inner[0]
        if part.get_content_type() == "text/rfc822-headers":
            text = part.get_payload(decode=True)
            if isinstance(text, bytes):
                return email.message_from_bytes(text)
    return None


def _texts(message: email.message.Message) -> Iterator[str]:
    for part in message.walk():
        if part.get_content_maintype() == "text":
            data = part.get_payload(decode=True)
            if isinstance(data, bytes):
                yield data.decode(part.get_content_charset() or "utf-8", "replace")


def _envelope_tokens(message: email.message.Message, recipient: str | None) -> Iterator[str]:
    values = [recipient or ""] + [str(v) for h in _ENVELOPE_HEADERS for v in message.get_all(h, [])]
    for value in values:
        yield from (
            m.decode("ascii").lower() for m in _VERP.findall(value.encode("utf-8", "replace"))
        )


def _returned_tokens(message: email.message.Message, raw: bytes) -> Iterator[str]:
    """Tokens in the body as sent, and in its text parts decoded (quoted-printable, base64)."""
    body = raw.split(b"\r\n\r\n", 1)[-1] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[-1]
    chunks: Iterable[bytes] = [body, *(t.encode("utf-8", "replace") for t in _texts(message))]
    for chunk in chunks:
        for pattern in (_HEADER_TOKEN, _VERP):
            yield from (m.decode("ascii").lower() for m in pattern.findall(chunk))


def _address(value: str) -> str:
    """The address of a DSN field like ``rfc822; reader@example.org`` or ``<reader@...>``."""
    text = value.split(";", 1)[-1].strip()
    return email.utils.parseaddr(text)[1] or text.strip("<> ")


def _fingerprint(message: email.message.Message, raw: bytes) -> str:
    message_id = " ".join(str(message.get("Message-ID", "")).split())
    return f"id:{message_id}" if message_id else f"sha256:{_hash(raw)}"


def _hash(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()
