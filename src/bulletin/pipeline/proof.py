"""ALTCHA's proof of work for the sign-up form (the altcha package, its one importer).

When ``web.altcha`` is on, each form carries a challenge signed with the store's key (SHA-256,
a number up to ``web.altcha_max_number``, valid as long as a form is); the browser finds the
number and posts it back. A solution counts once: it is recorded in the rate-limit table, so
one solved challenge cannot carry a flood of posts.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from types import ModuleType

from bulletin.store import Store

LIFETIME = timedelta(hours=1)


def _altcha() -> ModuleType:
    """The library, loaded by the first form that uses it: most deployments never turn it on."""
    from altcha import v1

    return v1


class Proof:
    """Makes challenges and judges their solutions."""

    def __init__(self, key: bytes, max_number: int) -> None:
        self.key, self.max_number = key, max_number

    def challenge(self, now: datetime) -> str:
        """A new challenge as the JSON the form's script reads."""
        altcha = _altcha()
        made = altcha.create_challenge(
            altcha.ChallengeOptions(
                algorithm="SHA-256",
                max_number=self.max_number,
                hmac_key=self.key,
                expires=now + LIFETIME,
            )
        )
        return json.dumps(made.to_dict())

    def solved(self, store: Store, payload: str, now: datetime) -> bool:
        """Whether ``payload`` solves a genuine, unexpired challenge not used before."""
        if not payload or len(payload) > 2000:
            return False
        altcha = _altcha()
        try:
            data = json.loads(base64.b64decode(payload, validate=True))
            expires = int(altcha.extract_params(data).get("expires", ["0"])[0])
        except (ValueError, TypeError, AttributeError):  # binascii.Error is a ValueError
            return False
        # The expiry is judged on the service's clock, not the library's own.
        ok, _ = altcha.verify_solution(data, self.key, check_expires=False)
        if not ok or expires < now.timestamp():
            return False
        # The signature names the challenge: a second post with the same solution is refused.
        signature = str(data.get("signature", ""))
        return store.signups.hit(f"altcha:{signature[:64]}", now, LIFETIME * 2) == 1


def solve(challenge: str) -> str:
    """The payload that answers ``challenge`` (what the browser's script computes)."""
    found = json.loads(challenge)
    altcha = _altcha()
    made = altcha.Challenge(
        found["algorithm"],
        found["challenge"],
        found["maxNumber"],
        found["salt"],
        found["signature"],
    )
    solution = altcha.solve_challenge(made)
    assert solution is not None
    payload = altcha.Payload(
        found["algorithm"], found["challenge"], solution.number, found["salt"], found["signature"]
    )
    return str(payload.to_base64())
