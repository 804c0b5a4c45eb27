"""``{% access_log_link patient %}``: the link to a patient's access log, shown only to those
who may open it (the clinic's leads and system administrators)."""

from typing import Any

from django import template

from audit.selectors import can_view_access_log

register = template.Library()


@register.inclusion_tag("audit/_access_log_link.html", takes_context=True)
def access_log_link(context: template.Context, patient: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"patient": patient, "show": can_view_access_log(user, patient)}
