"""DKIM: every message signed with the configured key, the list headers covered (RFC 8058)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import dkim  # type: ignore[import-untyped]
import nacl.signing
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bulletin.delivery import DkimSigner
from bulletin.errors import DeliveryError

MESSAGE = (
    b"From: News <news@example.org>\r\nTo: ann@example.org\r\nSubject: Today\r\n"
    b"Date: Fri, 01 Mar 2024 18:00:00 +0000\r\nMessage-ID: <a@news.example.org>\r\n"
    b"List-Unsubscribe: <https://news.example.org/unsubscribe?token=abc>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHello.\r\n"
)


def rsa_key(folder: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = folder / "rsa.key"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return path, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


def ed25519_key(folder: Path) -> tuple[Path, bytes]:
    key = nacl.signing.SigningKey.generate()
    path = folder / "ed25519.key"
    path.write_bytes(base64.b64encode(bytes(key)) + b"\n")  # as dknewkey writes it
    return path, b"v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(key.verify_key))


def dns(record: bytes) -> Callable[..., bytes]:
    def lookup(name: bytes, timeout: int = 5) -> bytes:
        assert name == b"bulletin._domainkey.example.org."
        return record

    return lookup


@pytest.mark.parametrize("make_key", [rsa_key, ed25519_key], ids=["rsa", "ed25519"])
def test_signed_messages_verify_and_any_change_breaks_them(
    tmp_path: Path, make_key: Callable[[Path], tuple[Path, bytes]]
) -> None:
    key_file, record = make_key(tmp_path)
    signed = DkimSigner(key_file, "bulletin", "example.org").sign(MESSAGE)
    assert dkim.verify(signed, dnsfunc=dns(record))
    header = signed.split(b"\r\n\r\n")[0].decode().lower()
    assert "list-unsubscribe:list-unsubscribe-post" in header.replace(" ", "").replace("\r\n", "")
    assert not dkim.verify(signed.replace(b"token=abc", b"token=abd"), dnsfunc=dns(record))
    assert not dkim.verify(signed.replace(b"Hello.", b"Hello!"), dnsfunc=dns(record))


def test_an_unusable_key_is_reported_at_start(tmp_path: Path) -> None:
    (tmp_path / "bad.key").write_text("not a key\n")
    with pytest.raises(DeliveryError, match="cannot DKIM-sign"):
        DkimSigner(tmp_path / "bad.key", "bulletin", "example.org")
    with pytest.raises(DeliveryError, match="cannot read the DKIM key"):
        DkimSigner(tmp_path / "missing.key", "bulletin", "example.org")
