"""Every error the connector raises on purpose, and the one place where Dust's answers become them.

    DestinationError                 base; `failure_type` is what the TRACE message says
    ├── ConfigError                  config_error: the user must fix the config, the key or Dust's side
    │   ├── DustAuthError            401/403 from Dust (bad key, no access, managed data source)
    │   └── DustQuotaError           403 quota: the plan or the storage must change
    ├── TransientError               transient_error: retries ran out (429, 5xx, timeouts, resets)
    │   ├── DuplicateTableName       Dust's 500 "table names must be unique": another client took the name
    │   └── Cancelled                the sync already failed elsewhere: a job or retry stops instead of running
    └── SystemError_                 system_error: a bug or a Dust answer we cannot understand
        └── DustRequestError         a non-retryable 4xx on one request (names stream and id)
            └── PayloadTooLarge      413: callers split the batch (rows) or shrink the document

`classify` maps a final Dust answer (status, Dust error type, message) to this tree, `is_retryable` says
whether retrying it may help, and each error's `culprit` names the setting at fault (check's hints).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# What an answer blames: a setting, or the key's workspace ("key_workspace": api_key and workspace_id do not
# match). check turns it into a hint naming the setting and its value.
Culprit = Literal["api_key", "key_workspace", "workspace_id", "space_id", "base_url"]

_CANCELLED = "the sync is stopping after an earlier failure"


class DestinationError(Exception):
    failure_type = "system_error"

    def __init__(
        self,
        message: str,
        *,
        internal: str | None = None,
        status: int | None = None,
        error_type: str | None = None,
        culprit: Culprit | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.internal = internal
        self.status = status  # the HTTP status from Dust, when the error is an answer
        self.error_type = error_type  # Dust's error.type, when the answer had Dust's envelope
        self.culprit = culprit


class ConfigError(DestinationError):
    failure_type = "config_error"


class DustAuthError(ConfigError):
    pass


class DustQuotaError(ConfigError):
    """403 data_source_quota_error / workspace_quota_error: the user must act (plan or storage)."""


class TransientError(DestinationError):
    failure_type = "transient_error"


class DuplicateTableName(TransientError):
    """Names are chosen against the tables listed at the start of the sync (table_names.py), so another table
    took the name since: a new sync chooses again."""


class Cancelled(TransientError):
    """The sync already failed elsewhere: this job or request stops instead of running or retrying."""

    def __init__(self, message: str = _CANCELLED) -> None:
        super().__init__(message)


class SystemError_(DestinationError):
    failure_type = "system_error"


class DustRequestError(SystemError_):
    """A request Dust refused for good (a 4xx that retrying cannot fix)."""


class PayloadTooLarge(DustRequestError):
    """413: the request body is over Dust's limit."""


@dataclass(frozen=True)
class DustAnswer:
    """An error answer from Dust: its status and, when it came in Dust's envelope, error.type and message."""

    status: int
    error_type: str | None
    message: str


RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
QUOTA_TYPES = frozenset({"data_source_quota_error", "workspace_quota_error"})
# Dust's error types that name the wrong setting whatever the status
CULPRIT_BY_TYPE: dict[str, Culprit] = {
    "invalid_api_key_error": "api_key",
    "malformed_authorization_header_error": "api_key",
    "not_authenticated": "api_key",
    "workspace_auth_error": "key_workspace",
    "workspace_not_found": "workspace_id",
    "space_not_found": "space_id",
}


def _is_name_clash(answer: DustAnswer) -> bool:
    """Dust maps some permanent failures to 500: retrying them only burns the deadline."""
    return answer.status == 500 and "must be unique" in answer.message


def is_retryable(answer: DustAnswer) -> bool:
    return answer.status in RETRYABLE_STATUS and not _is_name_clash(answer)


def _class_and_fix(answer: DustAnswer) -> tuple[type[DestinationError], str]:
    """The error class and what the user can do about it, from the status (and the type or message where the
    status alone is ambiguous)."""
    status = answer.status
    if status == 401:
        return DustAuthError, "Check the api_key: it must be a valid key of this workspace."
    if status == 403 and answer.error_type in QUOTA_TYPES:
        return DustQuotaError, (
            "The data source or workspace is over its plan's quota: raise the plan or lower "
            "max_document_size_mb / remove data."
        )
    if status == 403:
        return DustAuthError, (
            "The key may not write to this data source (connector-managed data sources refuse "
            "documents; the key's group needs write access to the space)."
        )
    if status == 404:
        return ConfigError, "Check workspace_id, space_id and data_source_id."
    if status == 413:
        return PayloadTooLarge, "The request body is too large."
    if _is_name_clash(answer):
        return DuplicateTableName, (
            "Another table of the data source took this name after the sync listed the tables "
            "(another client writing to this data source at the same time?). Run the sync again: a new "
            "table's name is chosen against the tables that exist when the sync starts."
        )
    if status == 429 or status >= 500:
        return TransientError, "Dust kept failing past the retry deadline; the sync can be retried."
    return DustRequestError, ""


def classify(answer: DustAnswer, what: str, *, retried_for: float | None = None) -> DestinationError:
    """Map a final Dust answer (not retryable, or still failing after `retried_for` seconds of retries) to
    the tree. `what` names the request (never the key)."""
    error_class, fix = _class_and_fix(answer)
    detail = f"{what}: Dust answered {answer.status}"
    if answer.error_type:
        detail += f" {answer.error_type}"
    if answer.message:
        detail += f" ({answer.message})"
    message = f"{detail}. {fix}" if fix else detail
    if retried_for is not None and answer.status == 429:
        message = (
            f"{what}: Dust kept answering 429 (rate limited) for {retried_for:.0f}s (retry_deadline_seconds). "
            "Other API clients of the workspace may be using its document upsert budget (120 per minute): "
            "the sync can be retried; lower document_upserts_per_minute to leave them room."
        )
    elif retried_for is not None:
        message += f" (for {retried_for:.0f}s, retry_deadline_seconds)"
    # an answer without Dust's envelope may come from something else than Dust: a wrong base_url
    culprit: Culprit | None = CULPRIT_BY_TYPE.get(answer.error_type) if answer.error_type else "base_url"
    return error_class(message, status=answer.status, error_type=answer.error_type, culprit=culprit)
