"""Keep secrets out of everything we print: every `airbyte_secret` value of the config is replaced by ****."""

from __future__ import annotations

import threading
from collections.abc import Iterable

MASK = "****"


class Redactor:
    def __init__(self) -> None:
        self._secrets: tuple[str, ...] = ()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[object]) -> None:
        # very short values would mask ordinary words; the spec requires real keys anyway
        new = {s for s in secrets if isinstance(s, str) and len(s) >= 4}
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


# One per process: the entrypoint registers the config's secrets before anything else runs.
REDACT = Redactor()
