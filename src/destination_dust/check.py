"""`check`: is the config usable? Read-only calls only; every failure names its cause and the fix."""

from __future__ import annotations

from typing import Any

import httpx

from destination_dust.client import DustClient
from destination_dust.config import DustConfig
from destination_dust.errors import ConfigError, DestinationError

MAX_NAMES_SHOWN = 10


def check_connection(config: DustConfig, http: httpx.Client | None = None) -> str | None:
    """None when the connection works, else a message for the user."""
    client = DustClient(config, http)
    try:
        return _check(client, config)
    finally:
        client.close()


def _check(client: DustClient, config: DustConfig) -> str | None:
    where = f"{config.base_url} (workspace {config.workspace_id!r})"
    try:
        data_sources = client.list_data_sources(retry=False)
    except httpx.TimeoutException:
        return f"Dust at {config.base_url} did not answer within {config.request_timeout_seconds:g} s: try again."
    except DestinationError as exc:
        return _explain(exc, config, where)
    except httpx.HTTPError as exc:
        return f"Could not reach {config.base_url} ({type(exc).__name__}): check base_url and the network."
    return _check_listing(data_sources, config)


def _check_listing(data_sources: list[dict[str, Any]], config: DustConfig) -> str | None:
    wanted = config.data_source_id
    match = next((d for d in data_sources if wanted in (d.get("sId"), d.get("name"))), None)
    if match is None:
        names = sorted(str(d.get("name")) for d in data_sources)
        shown = ", ".join(repr(n) for n in names[:MAX_NAMES_SHOWN]) or "none"
        more = f" and {len(names) - MAX_NAMES_SHOWN} more" if len(names) > MAX_NAMES_SHOWN else ""
        return (
            f"Data source {wanted!r} was not found in space {config.space_id!r}. The data sources this key can "
            f"see there are: {shown}{more}. Set data_source_id to one of them (id or name), or create a folder "
            "in that space."
        )
    uses_documents = config.data_format == "documents" or any(
        s.data_format == "documents" or s.composed for s in config.streams.values()
    )
    if match.get("connectorProvider") and uses_documents:
        return (
            f"Data source {wanted!r} is managed by Dust's {match['connectorProvider']} connector: Dust refuses "
            "documents written into it by an API key. Create a folder (a data source without a connector) "
            "in the space and use it, or use data_format 'tables'."
        )
    return None


def _explain(exc: DestinationError, config: DustConfig, where: str) -> str:
    """A failed listing, told as the setting to fix: errors.classify already named it (`culprit`)."""
    text = exc.message
    if exc.culprit == "base_url":
        return (
            f"{config.base_url} answered {exc.status} without Dust's error format: it does not look like a "
            "Dust server. Check base_url (https://dust.tt or https://eu.dust.tt)."
        )
    if exc.culprit == "api_key":
        return f"Dust rejected the API key at {where}: check api_key (Dust > Admin > API Keys). {text}"
    if exc.culprit == "key_workspace":
        return f"The API key belongs to another workspace than {config.workspace_id!r}: check workspace_id. {text}"
    if exc.culprit == "workspace_id":
        return f"Workspace {config.workspace_id!r} does not exist at {config.base_url}: check workspace_id. {text}"
    if exc.culprit == "space_id":
        return (
            f"Space {config.space_id!r} was not found in workspace {config.workspace_id!r} (or the key cannot "
            f"read it): check space_id. {text}"
        )
    return f"Dust check failed at {where}: {text}"


def preflight(client: DustClient, config: DustConfig) -> None:
    """Before `write` reads a record: the same read-only checks, raised as errors (retried like any call)."""
    try:
        data_sources = client.list_data_sources()
    except DestinationError as exc:
        if exc.failure_type == "config_error":
            raise ConfigError(_explain(exc, config, config.base_url)) from None
        raise
    problem = _check_listing(data_sources, config)
    if problem:
        raise ConfigError(problem)
