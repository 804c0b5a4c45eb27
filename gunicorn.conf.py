"""Gunicorn settings, read from the working directory when ``gunicorn itb.wsgi`` starts (the
Procfile, the Dockerfile and docker-compose.yml start it from the project root).

The access log has one line per request: client, time, method, path, status, size, duration,
user agent and the request id (``X-Request-ID``, the id the error pages show). It never writes
the query string or the Referer, where the refill board's search puts a patient's name or MRN
(``/?q=...``), and it redacts the secret in a calendar feed address or an alert's acknowledge
link (``itb.security.redact_path``). The command line may change the format; these fields stay
redacted whatever it is.
"""

from typing import Any

from gunicorn.glogging import Logger

from itb.security import redact_path

access_log_format = (
    '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s" %({x-request-id}o)s'
)


class AccessLogger(Logger):  # type: ignore[misc]  # gunicorn has no type hints
    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        path = redact_path(str(atoms.get("U") or ""))
        atoms["U"] = path
        atoms["r"] = f"{atoms.get('m')} {path} {atoms.get('H')}"
        atoms["q"] = "-"
        atoms["f"] = "-"
        atoms["{referer}i"] = "-"
        return atoms


logger_class = AccessLogger
