"""Template context shared by every page."""

from typing import Any

from django.http import HttpRequest

from web.navigation import Navigation, navigation_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    """``nav``: the signed-in user's roles and menu (empty for anonymous visitors). Built once
    per request, however many templates render."""
    cached: Navigation | None = getattr(request, "_web_navigation", None)
    if cached is None:
        cached = navigation_for(request)
        request._web_navigation = cached  # type: ignore[attr-defined]
    return {"nav": cached}
