"""Every error the connector raises on purpose, and how each maps to an Airbyte failure type.

    DestinationError                 base; `failure_type` is what the TRACE message says
    ├── ConfigError                  config_error: the user must fix the config, the key or Dust's side
    │   └── DustAuthError            401/403 from Dust (bad key, no access, managed data source, quota)
    ├── TransientError               transient_error: retries ran out (429, 5xx, timeouts, resets)
    └── SystemError_                 system_error: a bug or a Dust answer we cannot understand
        └── DustRequestError         a non-retryable 4xx on one request (names stream and id)

The client maps HTTP statuses to these classes in one place (`client.classify`).
"""

from __future__ import annotations


class DestinationError(Exception):
    failure_type = "system_error"

    def __init__(
        self,
        message: str,
        *,
        internal: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal
        self.status = status  # the HTTP status from Dust, when the error is an answer
        self.error_type = error_type  # Dust's error.type, when the answer had Dust's envelope


class ConfigError(DestinationError):
    failure_type = "config_error"


class DustAuthError(ConfigError):
    pass


class TransientError(DestinationError):
    failure_type = "transient_error"


class SystemError_(DestinationError):
    failure_type = "system_error"


class DustRequestError(SystemError_):
    """A request Dust refused for good (a 4xx that retrying cannot fix)."""
