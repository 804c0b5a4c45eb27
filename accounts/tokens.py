"""API tokens as text: making one, hashing it, and reading one back from a request.

A token looks like ``itb_<prefix>_<secret>``: ``itb_`` marks it as ours (and lets secret scanners
recognise it), ``<prefix>`` is 8 letters or digits stored in clear to find the token's row and to
show it in the admin, ``<secret>`` is ``secrets.token_urlsafe(32)`` (256 random bits, 43
characters). Only the SHA-256 of the whole token is stored: with that much entropy a fast hash is
enough, and the token itself can never be read back from the database.

Nothing here touches the database.
"""

import hashlib
import hmac
import re
import secrets
import string
from typing import NamedTuple

TOKEN_MARKER = "itb"  # noqa: S105 (the public marker, not a secret)
PREFIX_LENGTH = 8
SECRET_BYTES = 32
_PREFIX_ALPHABET = string.ascii_letters + string.digits
_TOKEN_RE = re.compile(
    rf"{TOKEN_MARKER}_(?P<prefix>[A-Za-z0-9]{{{PREFIX_LENGTH}}})_(?P<secret>[A-Za-z0-9_-]{{43}})",
    re.ASCII,
)


class ParsedToken(NamedTuple):
    prefix: str
    secret: str


def generate_prefix() -> str:
    return "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(PREFIX_LENGTH))


def generate_token(prefix: str | None = None) -> tuple[str, str]:
    """A new clear token and its prefix: ``(token, prefix)``."""
    prefix = prefix or generate_prefix()
    if not re.fullmatch(rf"[A-Za-z0-9]{{{PREFIX_LENGTH}}}", prefix, re.ASCII):
        raise ValueError(f"A token prefix is {PREFIX_LENGTH} letters or digits.")
    return f"{TOKEN_MARKER}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}", prefix


def hash_token(token: str) -> str:
    """The SHA-256 hex digest of the whole token: what is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_token(token: str) -> ParsedToken | None:
    """The prefix and secret of a well-formed token, or None when it is not one of ours."""
    match = _TOKEN_RE.fullmatch(token)
    if match is None:
        return None
    return ParsedToken(prefix=match["prefix"], secret=match["secret"])


def token_matches(token: str, token_hash: str) -> bool:
    """Whether ``token`` hashes to ``token_hash``, compared in constant time."""
    return hmac.compare_digest(hash_token(token).encode("ascii"), token_hash.encode("ascii"))


# Compared against when no row has the prefix, so an unknown prefix costs the same work as a
# wrong secret.
DUMMY_HASH = hash_token(f"{TOKEN_MARKER}_{'0' * PREFIX_LENGTH}_{'0' * 43}")
