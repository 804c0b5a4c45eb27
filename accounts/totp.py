"""Time-based one-time passwords (TOTP, RFC 6238) over HOTP (RFC 4226), and recovery codes.

The parameters every authenticator app supports: HMAC-SHA-1, 6 digits, 30-second steps from the
Unix epoch, a 160-bit secret written in base32 (RFC 4648) without padding. Pure functions of
their inputs: no database, no settings, no clock (callers pass the time).
"""

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

STEP_SECONDS = 30
DIGITS = 6
SECRET_BYTES = 20  # 160 bits, the HMAC-SHA-1 block the RFC recommends
# Codes of the step before and after the current one are accepted too: a phone clock a little
# off, or a code typed as it changes.
DRIFT_STEPS = 1

RECOVERY_CODE_COUNT = 10
# No 0/o, 1/l/i: a code copied from paper is read back without guessing. 31 symbols, 16 of them
# per code: about 79 bits, so a fast hash is enough to store it (like the API tokens).
RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
RECOVERY_LENGTH = 16

_DigestMaker = Callable[..., Any]


def generate_secret() -> str:
    """A new random shared secret, base32 without padding (32 characters)."""
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def decode_secret(secret: str) -> bytes:
    """The key bytes of a base32 secret; spaces and case are ignored, padding is optional."""
    cleaned = re.sub(r"\s+", "", secret).upper()
    cleaned += "=" * (-len(cleaned) % 8)
    try:
        return base64.b32decode(cleaned)
    except binascii.Error as exc:
        raise ValueError("The secret is not base32 text.") from exc


def hotp(
    key: bytes, counter: int, *, digits: int = DIGITS, digest: _DigestMaker = hashlib.sha1
) -> str:
    """RFC 4226 §5.3: HMAC the 8-byte big-endian counter, then dynamic truncation.

    1. ``mac = HMAC(key, counter)``;
    2. the low 4 bits of the last byte are an offset; the 31 bits from that offset are a number;
    3. that number modulo 10^digits, zero-padded, is the code."""
    mac = hmac.new(key, counter.to_bytes(8, "big"), digest).digest()
    offset = mac[-1] & 0x0F
    number = int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF
    return str(number % 10**digits).zfill(digits)


def time_step(at: datetime, *, step_seconds: int = STEP_SECONDS) -> int:
    """The RFC 6238 counter T = floor(unix time / step) at the aware datetime ``at``."""
    if at.tzinfo is None:
        raise ValueError("time_step needs an aware datetime")
    return int(at.timestamp()) // step_seconds


def totp(
    secret: str,
    at: datetime,
    *,
    digits: int = DIGITS,
    step_seconds: int = STEP_SECONDS,
    digest: _DigestMaker = hashlib.sha1,
) -> str:
    """The code an authenticator app shows at ``at``."""
    return hotp(
        decode_secret(secret),
        time_step(at, step_seconds=step_seconds),
        digits=digits,
        digest=digest,
    )


def totp_at_step(secret: str, step: int) -> str:
    return hotp(decode_secret(secret), step)


def normalise_code(raw: str) -> str:
    """What the user typed, without spaces, hyphens and case."""
    return re.sub(r"[\s-]+", "", raw or "").lower()


def looks_like_totp(code: str) -> bool:
    return len(code) == DIGITS and code.isascii() and code.isdigit()


def matching_step(secret: str, code: str, at: datetime, *, drift: int = DRIFT_STEPS) -> int | None:
    """The time step within ``drift`` steps of ``at`` whose code is ``code``, or None. Every
    candidate is compared in constant time; the newest matching step wins."""
    if not looks_like_totp(code):
        return None
    key = decode_secret(secret)
    current = time_step(at)
    found: int | None = None
    for step in range(current - drift, current + drift + 1):
        if hmac.compare_digest(hotp(key, step).encode("ascii"), code.encode("ascii")):
            found = step
    return found


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` URI authenticator apps read from the QR code (the Key URI Format
    of Google Authenticator, which the other apps follow)."""
    label = quote(f"{issuer}:{account}", safe="")
    query = urlencode(
        {
            "secret": secret,
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": STEP_SECONDS,
        },
        quote_via=quote,
    )
    return f"otpauth://totp/{label}?{query}"


def generate_recovery_codes(count: int = RECOVERY_CODE_COUNT) -> list[str]:
    """``count`` new recovery codes, as shown to the user: ``abcd-efgh-jkmn-pqrs``."""
    codes = []
    for _ in range(count):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
        codes.append("-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4)))
    return codes


def looks_like_recovery_code(code: str) -> bool:
    return len(code) == RECOVERY_LENGTH and all(c in RECOVERY_ALPHABET for c in code)


def hash_recovery_code(code: str) -> str:
    """SHA-256 (hex) of the normalised code: what is stored."""
    return hashlib.sha256(normalise_code(code).encode("utf-8")).hexdigest()


def group_secret(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))
