"""Throwaway API views for the token tests (``@pytest.mark.urls("tests.accounts.urls")``). They
use the project's default authentication classes from the settings."""

from typing import Any

from django.urls import path
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import ApiToken
from accounts.permissions import TokenScopePermission


def who(request: Request) -> dict[str, Any]:
    token = request.auth if isinstance(request.auth, ApiToken) else None
    return {
        "username": request.user.username,
        "auth": "token" if token else "session",
        "prefix": token.prefix if token else None,
    }


class WhoAmIView(APIView):
    permission_classes = [IsAuthenticated, TokenScopePermission]

    def get(self, request: Request) -> Response:
        return Response(who(request))

    def post(self, request: Request) -> Response:
        return Response(who(request), status=201)

    def delete(self, request: Request) -> Response:
        return Response(status=204)


class CalculatorView(APIView):
    """Stateless: a POST that writes nothing, open to read-scope tokens."""

    permission_classes = [IsAuthenticated, TokenScopePermission]
    allows_read_scope_post = True

    def post(self, request: Request) -> Response:
        return Response({**who(request), "sum": sum(request.data.get("values", []))})

    def delete(self, request: Request) -> Response:
        return Response(status=204)


urlpatterns = [
    path("api/whoami/", WhoAmIView.as_view()),
    path("api/calculate/", CalculatorView.as_view()),
]
