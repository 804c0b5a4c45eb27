"""Helpers for reading rendered pages in tests."""

import re

_RANDOM_VALUES = re.compile(r'(name="csrfmiddlewaretoken" value="[^"]*"|action="[^"]*")')


def without_random_tokens(html: str) -> str:
    """The page without its CSRF token and form targets.

    The token and a signed form target (the acknowledge link) are random text
    and may contain any short string, such as an MRN like "A1", by chance.
    """
    return _RANDOM_VALUES.sub("", html)


def shows_word(html: str, word: str) -> bool:
    """Whether `word` appears as a whole word outside tokens and form targets."""
    return re.search(rf"\b{re.escape(word)}\b", without_random_tokens(html)) is not None
