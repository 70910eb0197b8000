"""TLS settings of the client's httpx.Client: https verifies with the system's CAs; a plain-http base URL (the
local emulator) skips loading them, with a context that would refuse any TLS peer."""

from __future__ import annotations

import ssl

from destination_dust.client import _tls_verification


def test_https_verifies_with_the_system_trust_store() -> None:
    assert _tls_verification("https://dust.tt") is True
    assert _tls_verification("https://eu.dust.tt") is True


def test_plain_http_gets_a_context_that_trusts_no_certificate() -> None:
    context = _tls_verification("http://127.0.0.1:8787")
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 0  # fails closed: no CA was loaded
