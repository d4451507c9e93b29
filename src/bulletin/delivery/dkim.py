"""DKIM signatures (RFC 6376) with dkimpy: RSA or Ed25519 (RFC 8463), one per message.

The signature covers the list headers as RFC 8058 asks (List-Unsubscribe and -Post), and
those differ per recipient, so every message is signed on its own. The key file is an RSA key
in PEM, or an Ed25519 key as ``dknewkey --ktype ed25519`` writes it (the base64 seed).
"""

from __future__ import annotations

from pathlib import Path

import dkim  # type: ignore[import-untyped]

from bulletin.errors import DeliveryError

SIGNED_HEADERS = (
    b"from",
    b"to",
    b"subject",
    b"date",
    b"message-id",
    b"list-id",
    b"list-unsubscribe",
    b"list-unsubscribe-post",
    b"mime-version",
    b"content-type",
)


class DkimSigner:
    """Signs messages for one domain with one key."""

    def __init__(self, key_file: Path, selector: str, domain: str) -> None:
        try:
            self.key = key_file.read_bytes().strip()
        except OSError as error:
            raise DeliveryError(
                f"cannot read the DKIM key {key_file}: {error.strerror}",
                hint="check delivery.dkim_key_file in config.yaml",
            ) from None
        self.algorithm = b"rsa-sha256" if b"-----BEGIN" in self.key else b"ed25519-sha256"
        self.selector, self.domain = selector.encode("ascii"), domain.encode("idna")
        self.sign(b"From: check@example.org\r\nTo: check@example.org\r\n\r\nkey check\r\n")

    def sign(self, message: bytes) -> bytes:
        """``message`` with a DKIM-Signature header in front."""
        try:
            header = dkim.sign(
                message,
                self.selector,
                self.domain,
                self.key,
                canonicalize=(b"relaxed", b"relaxed"),
                signature_algorithm=self.algorithm,
                include_headers=list(SIGNED_HEADERS),
            )
        except (dkim.DKIMException, ValueError, ImportError) as error:
            raise DeliveryError(
                f"cannot DKIM-sign with the key for {self.domain.decode()}: {error}",
                hint="delivery.dkim_key_file must be an RSA key in PEM or an Ed25519 seed "
                "in base64 (dknewkey --ktype ed25519); Ed25519 needs PyNaCl",
            ) from None
        return bytes(header) + message
