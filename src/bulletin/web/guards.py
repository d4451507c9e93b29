"""What every POST of a reader's form passes before it may change anything: it comes from our
own pages (Origin), its body is a form we can read, and the answers that refuse it.

The Origin check (the OWASP "verifying origin with standard headers" defence against CSRF): a
browser names the page a POST comes from, and a form on another site gets a different origin.
It must be ``web.public_url``'s origin, or that of the Host the request was sent to (the
address the browser used, behind a proxy that keeps it); a missing or ``null`` Origin is
refused too, except for the one-click unsubscribe, which mail providers' servers send without
one (RFC 8058). Our pages send ``Referrer-Policy: same-origin``: with ``no-referrer`` browsers
would send ``Origin: null`` with every form.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 60


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin(request: Request, public: str, missing_ok: bool = False) -> bool:
    """Whether a POST comes from our own pages (see the module's docstring)."""
    origin = request.headers.get("origin")
    if origin is None:
        return missing_ok
    origin = origin.strip().lower()
    if origin == "null" or "://" not in origin:
        return False
    if origin == public:
        return True
    host = request.headers.get("host", "").lower()
    return bool(host) and urlsplit(origin).netloc == host


def form_fields(body: bytes, content_type: str) -> dict[str, list[str]] | None:
    """The fields of a urlencoded form body; None when it is not one (another type, not
    UTF-8, too many fields)."""
    if content_type.split(";", 1)[0].strip().lower() != FORM_TYPE:
        return None
    try:
        text = body.decode("utf-8")
        return parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None


def first(fields: dict[str, list[str]], name: str) -> str:
    """A field's first value, or ""."""
    values = fields.get(name) or [""]
    return values[0]


def client_of(request: Request) -> str:
    """The client's address as the server saw it (a trusted proxy's X-Forwarded-For
    applied by uvicorn)."""
    return request.client.host if request.client else ""
