"""``Authorization: Bearer itb_...`` for the REST API.

No ``Authorization`` header, or another scheme: not ours, the next authentication class (the
session) tries. A Bearer header that does not name a usable token is refused with 401 and a
message saying why; whether a token is revoked or expired is only said to a caller that presents
the token's correct secret.
"""

from typing import Any

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from accounts.models import ApiToken
from accounts.tokens import DUMMY_HASH, parse_token, token_matches

MALFORMED = "Malformed API token: send 'Authorization: Bearer itb_<prefix>_<secret>'."
NO_TOKEN = "Invalid Authorization header: no API token after 'Bearer'."  # noqa: S105 (a message, not a secret)
SPACES = "Invalid Authorization header: the API token must not contain spaces."
INVALID = "Invalid API token."
REVOKED = "This API token has been revoked."
EXPIRED = "This API token has expired."
USER_INACTIVE = "The user of this API token is inactive."


class BearerTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) == 1:
            raise exceptions.AuthenticationFailed(NO_TOKEN)
        if len(parts) > 2:
            raise exceptions.AuthenticationFailed(SPACES)
        try:
            raw = parts[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed(MALFORMED) from None
        return self.authenticate_credentials(raw)

    def authenticate_credentials(self, raw: str) -> tuple[Any, ApiToken]:
        parsed = parse_token(raw)
        if parsed is None:
            raise exceptions.AuthenticationFailed(MALFORMED)
        token = ApiToken.objects.select_related("user").filter(prefix=parsed.prefix).first()
        if token is None:
            token_matches(raw, DUMMY_HASH)  # the same work as a wrong secret
            raise exceptions.AuthenticationFailed(INVALID)
        if not token_matches(raw, token.token_hash):
            raise exceptions.AuthenticationFailed(INVALID)
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(REVOKED)
        if token.is_expired(now):
            raise exceptions.AuthenticationFailed(EXPIRED)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(USER_INACTIVE)
        token.mark_used(now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'
