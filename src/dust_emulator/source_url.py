"""``source_url`` validation as Dust's front does it (``validateUrl`` in url_utils.ts).

Dust parses the value with the WHATWG ``URL`` class, requires ``http:``/``https:`` and refuses a
pathname containing ``//``; it stores ``url.href``. Python has no WHATWG parser, so this module
implements the subset that matters for http(s) URLs: scheme and host lower-cased, default port
dropped, backslashes as slashes, dot segments resolved, an empty path becomes ``/``, and the
characters WHATWG percent-encodes are encoded. Exotic inputs (IPv6 zone ids, IDNA edge cases) may
standardise differently from a browser; they are still accepted or refused the same way.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):(.*)$", re.DOTALL)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
# WHATWG percent-encode sets (as "safe" characters for urllib's quote: everything printable ASCII
# that the set does not contain, plus '%' so existing escapes survive).
_PATH_SAFE = "!$%&'()*+,-./:;=@[]^_|~{}\\"
_QUERY_SAFE = "!$%&()*+,-./:;=?@[]\\^_`{|}~"
_FRAGMENT_SAFE = "!#$%&'()*+,-./:;=?@[]\\^_{|}~"
_FORBIDDEN_HOST = set(" #%/:<>?@[\\]^|")


class InvalidUrl(ValueError):
    pass


def _strip(raw: str) -> str:
    # WHATWG strips leading/trailing C0 controls and spaces, and removes tabs and newlines anywhere.
    trimmed = raw.strip("".join(chr(c) for c in range(0x21)))
    return re.sub(r"[\t\n\r]", "", trimmed)


def _parse_host(host: str) -> str:
    if not host:
        raise InvalidUrl("empty host")
    if host.startswith("["):
        if not host.endswith("]"):
            raise InvalidUrl("bad IPv6 host")
        return host.lower()
    from urllib.parse import unquote

    decoded = unquote(host)
    if any(ch in _FORBIDDEN_HOST for ch in decoded) or any(
        ord(ch) < 0x20 or ord(ch) == 0x7F for ch in decoded
    ):
        raise InvalidUrl("forbidden host code point")
    try:
        ascii_host = decoded.encode("idna").decode("ascii") if not decoded.isascii() else decoded
    except UnicodeError as exc:
        raise InvalidUrl("bad international host") from exc
    return ascii_host.lower()


def _resolve_dots(path: str) -> str:
    segments = path.split("/")[1:]
    output: list[str] = []
    for index, segment in enumerate(segments):
        is_last = index == len(segments) - 1
        lowered = segment.lower()
        if lowered in ("..", ".%2e", "%2e.", "%2e%2e"):
            if output:
                output.pop()
            if is_last:
                output.append("")
        elif lowered in (".", "%2e"):
            if is_last:
                output.append("")
        else:
            output.append(segment)
    return "/" + "/".join(output)


def standardize_source_url(raw: str) -> str:
    """Return Dust's stored ``href`` for ``raw``, or raise ``InvalidUrl``."""
    text = _strip(raw)
    match = _SCHEME.match(text)
    if not match:
        raise InvalidUrl("no scheme")
    scheme, rest = match.group(1).lower(), match.group(2)
    if scheme not in ("http", "https"):
        raise InvalidUrl("scheme must be http or https")
    rest = rest.lstrip("/\\")
    end = len(rest)
    for delimiter in "/\\?#":
        position = rest.find(delimiter)
        if position != -1:
            end = min(end, position)
    authority, remainder = rest[:end], rest[end:]

    userinfo = ""
    if "@" in authority:
        userinfo, authority = authority.rsplit("@", 1)
    host, port = authority, ""
    is_ipv6 = authority.startswith("[")
    if (not is_ipv6 and ":" in authority) or (is_ipv6 and "]:" in authority):
        host, port = authority.rsplit(":", 1)
    if port and not port.isdigit():
        raise InvalidUrl("bad port")
    if port:
        if int(port) > 65535:
            raise InvalidUrl("port out of range")
        port = str(int(port))
        if port == _DEFAULT_PORTS[scheme]:
            port = ""
    host = _parse_host(host)

    fragment = ""
    if "#" in remainder:
        remainder, fragment = remainder.split("#", 1)
        fragment = "#" + quote(fragment, safe=_FRAGMENT_SAFE)
    query = ""
    if "?" in remainder:
        remainder, query = remainder.split("?", 1)
        query = "?" + quote(query, safe=_QUERY_SAFE)
    path = remainder.replace("\\", "/") or "/"
    path = _resolve_dots(quote(path, safe=_PATH_SAFE))
    if "//" in path:
        raise InvalidUrl("pathname contains //")

    credentials = ""
    if userinfo:
        credentials = quote(userinfo, safe="!$%&'()*+,-.;=_~:") + "@"
    netloc = credentials + host + (f":{port}" if port else "")
    return f"{scheme}://{netloc}{path}{query}{fragment}"
