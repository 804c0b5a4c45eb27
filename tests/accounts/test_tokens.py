"""Token text: its format, its hash, and reading it back."""

import hashlib
import re

import pytest

from accounts.tokens import generate_token, hash_token, parse_token, token_matches


def test_generated_token_has_the_documented_format():
    token, prefix = generate_token()
    assert re.fullmatch(r"itb_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{43}", token)
    assert token[4:12] == prefix
    assert parse_token(token) == (prefix, token[13:])


def test_generated_tokens_are_unique():
    tokens = {generate_token()[0] for _ in range(200)}
    assert len(tokens) == 200
    assert len({t[4:12] for t in tokens}) == 200


def test_generate_token_keeps_a_given_prefix_and_refuses_a_bad_one():
    token, prefix = generate_token("Ab3dE5g7")
    assert prefix == "Ab3dE5g7"
    assert token.startswith("itb_Ab3dE5g7_")
    with pytest.raises(ValueError, match="8 letters or digits"):
        generate_token("ab_d-f12")


def test_hash_is_sha256_hex_of_the_whole_token():
    token, _ = generate_token()
    assert hash_token(token) == hashlib.sha256(token.encode()).hexdigest()
    assert len(hash_token(token)) == 64
    assert token_matches(token, hash_token(token)) is True
    assert token_matches(token + "x", hash_token(token)) is False


@pytest.mark.parametrize(
    "text",
    [
        "",
        "itb_",
        "abc_ABCDEFGH_" + "a" * 43,  # other marker
        "itb_ABCDEFG_" + "a" * 43,  # prefix too short
        "itb_ABCDEFG-_" + "a" * 43,  # prefix with a symbol
        "itb_ABCDEFGH_" + "a" * 42,  # secret too short
        "itb_ABCDEFGH_" + "a" * 44,  # secret too long
        "itb_ABCDEFGH_" + "a" * 42 + "=",  # not urlsafe base64
        "itb_ABCDEFGH_" + "a" * 42 + "é",
        "itb_ABCDEFGH_" + "a" * 43 + "\n",
    ],
)
def test_malformed_tokens_are_not_parsed(text):
    assert parse_token(text) is None
