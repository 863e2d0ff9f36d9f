"""Standard Webhooks signatures (https://www.standardwebhooks.com).

The signed content is ``f"{webhook_id}.{webhook_timestamp}.{body}"``; the key is the tenant's secret
without its ``whsec_`` prefix, base64-decoded; the signature header is ``v1,`` + the base64 HMAC-SHA256.
A receiver checks it with any Standard Webhooks library (or these few lines) and rejects a timestamp
more than a few minutes old, which bounds replays; ``webhook-id`` is stable across tries, to dedupe on.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time

SECRET_PREFIX = "whsec_"


class InvalidSecret(ValueError):
    """A webhook secret that is not ``whsec_`` + base64 of at least one byte."""


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret (the prefix is optional)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidSecret("the webhook secret is not base64") from exc
    if not key:
        raise InvalidSecret("the webhook secret is empty")
    return key


def sign(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``."""
    content = f"{msg_id}.{int(timestamp)}.{body}".encode()
    digest = hmac.new(secret_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, body: str, *, timestamp: int | None = None) -> dict[str, str]:
    """The three signature headers for one try (``timestamp``: unix seconds, default now)."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(secret, msg_id, stamp, body),
    }
