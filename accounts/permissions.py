"""What an API token's scope lets it do."""

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from accounts.models import ApiToken, ApiTokenScope


class TokenScopePermission(BasePermission):
    """Read-scope API tokens may only make safe requests (GET, HEAD, OPTIONS).

    A view that answers a POST without writing anything (a stateless calculator) sets
    ``allows_read_scope_post = True`` to let read-scope tokens POST to it; PUT, PATCH and DELETE
    stay refused. Write-scope tokens and sessions are not restricted here."""

    message = "This API token has read scope; this request needs write scope."

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        if request.method in SAFE_METHODS or token.scope == ApiTokenScope.WRITE:
            return True
        return request.method == "POST" and getattr(view, "allows_read_scope_post", False) is True
