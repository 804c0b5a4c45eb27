"""The QR code of an authenticator key, as inline SVG (no image request, no inline style: the
page's Content-Security-Policy allows neither inline styles nor data: images beyond icons)."""

import segno
from django.utils.safestring import SafeString, mark_safe


def qr_svg(uri: str, *, title: str) -> SafeString:
    """``uri`` as an SVG QR code. Dark modules on white, with the quiet zone, so phones read it
    in a dark-mode page too. Safe to insert in a page: segno writes the markup and escapes the
    title."""
    code = segno.make(uri, error="m", micro=False)
    svg = code.svg_inline(
        scale=5,
        border=4,
        dark="#000",
        light="#fff",
        title=title,
        svgclass="qr-code__image",
        omitsize=True,  # a viewBox instead: the stylesheet sets the size
    )
    return mark_safe(svg)  # noqa: S308 - markup made by segno from our own URI
