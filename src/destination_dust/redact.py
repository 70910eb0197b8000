"""Keep secrets out of everything we print: every `airbyte_secret` value of the config is replaced by ****,
in each spelling a server or our own formatting may give it (raw, JSON-escaped, Python repr, URL-encoded)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from urllib.parse import quote

MASK = "****"


class Redactor:
    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[object]) -> None:
        # very short values would mask ordinary words; the spec requires real keys anyway
        new = {v for s in secrets if isinstance(s, str) and len(s) >= 4 for v in _spellings(s)}
        with self._lock:
            # longest first, so a secret that contains another is masked whole
            self._secrets = tuple(sorted(set(self._secrets) | new, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def bytes(self, data: bytes) -> bytes:
        for secret in self._secrets:
            raw = secret.encode("utf-8", "surrogatepass")
            if raw in data:
                data = data.replace(raw, MASK.encode())
        return data


def _spellings(secret: str) -> set[str]:
    """A key echoed inside a JSON string, a repr() or a URL no longer contains its raw form when it holds
    characters such as `"`, `\\`, `/` or `+` (the spec allows any non-space character)."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
        quote(secret),
        quote(secret, safe=""),
    }


# One per process: the entrypoint registers the config's secrets before anything else runs.
REDACT = Redactor()
