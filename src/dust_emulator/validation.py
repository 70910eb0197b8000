"""Request validation as Dust's front does it with zod, before any lookup.

Messages follow Hono's validator: ``"Invalid request body: " + <zod-validation-error text>``
(``Validation error: Required at "name"``). Only the prefix and the status/type are part of the
contract; the detail text is best effort. Unknown keys are dropped, like zod's ``object``.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import invalid_request
from .jsvalues import js_key_order, js_number

ROW_KEY = re.compile(r"^[a-z0-9_]+$")
_MISSING = object()


class _Issues:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str, path: list[str | int]) -> None:
        if path:
            where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path).replace(".[", "[")
            self.items.append(f'{message} at "{where}"')
        else:
            self.items.append(message)

    def raise_if_any(self, prefix: str) -> None:
        if self.items:
            raise invalid_request(f"{prefix}: Validation error: {'; '.join(self.items[:5])}")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _check(
    issues: _Issues,
    body: dict[str, Any],
    key: str,
    expected: str,
    *,
    nullable: bool = True,
    optional: bool = True,
) -> Any:
    """Check ``body[key]`` is ``expected`` ("string", "number", "boolean", "string[]", "object")."""
    value = body.get(key, _MISSING)
    if value is _MISSING:
        if not optional:
            issues.add("Required", [key])
        return None
    if value is None:
        if not nullable:
            issues.add(f"Expected {expected}, received null", [key])
        return None
    if expected == "string[]":
        if not isinstance(value, list):
            issues.add(f"Expected array, received {_kind(value)}", [key])
            return None
        for index, item in enumerate(value):
            if not isinstance(item, str):
                issues.add(f"Expected string, received {_kind(item)}", [key, index])
        return value
    if _kind(value) != expected:
        issues.add(f"Expected {expected}, received {_kind(value)}", [key])
        return None
    return js_number(value) if expected == "number" else value


def _expect_object(body: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise invalid_request(f"{prefix}: Validation error: Expected object, received {_kind(body)}")
    return body


def _check_section(issues: _Issues, root: Any) -> None:
    """Sections nest arbitrarily; walk them without recursion so deep nesting cannot crash us."""
    stack: list[tuple[Any, list[str | int]]] = [(root, ["section"])]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict):
            issues.add(f"Expected object, received {_kind(node)}", path)
            continue
        for key in ("prefix", "content"):
            if key not in node:
                issues.add("Required", [*path, key])
            elif node[key] is not None and not isinstance(node[key], str):
                issues.add(f"Expected string, received {_kind(node[key])}", [*path, key])
        children = node.get("sections", _MISSING)
        if children is _MISSING:
            issues.add("Required", [*path, "sections"])
        elif not isinstance(children, list):
            issues.add(f"Expected array, received {_kind(children)}", [*path, "sections"])
        else:
            stack.extend((child, [*path, "sections", i]) for i, child in enumerate(children))
        if len(issues.items) > 5:
            return


def document_body(raw: Any) -> dict[str, Any]:
    prefix = "Invalid request body"
    body = _expect_object(raw, prefix)
    issues = _Issues()
    clean: dict[str, Any] = {
        "timestamp": _check(issues, body, "timestamp", "number"),
        "tags": _check(issues, body, "tags", "string[]"),
        "parent_id": _check(issues, body, "parent_id", "string"),
        "parents": _check(issues, body, "parents", "string[]"),
        "source_url": _check(issues, body, "source_url", "string"),
        "text": _check(issues, body, "text", "string"),
        "light_document_output": _check(issues, body, "light_document_output", "boolean", nullable=False),
        "async": _check(issues, body, "async", "boolean"),
        "mime_type": _check(issues, body, "mime_type", "string"),
        "title": _check(issues, body, "title", "string"),
        "section": None,
        "upsert_context": None,
    }
    section = body.get("section")
    if section is not None:
        _check_section(issues, section)
        clean["section"] = section
    context = _check(issues, body, "upsert_context", "object", nullable=False)
    if context is not None:
        sync_type = context.get("sync_type")
        if sync_type is not None and sync_type not in ("batch", "incremental"):
            issues.add(
                "Invalid enum value. Expected 'batch' | 'incremental'", ["upsert_context", "sync_type"]
            )
        clean["upsert_context"] = {"sync_type": sync_type}
    issues.raise_if_any(prefix)
    return clean


def table_body(raw: Any) -> dict[str, Any]:
    prefix = "Invalid request body"
    body = _expect_object(raw, prefix)
    issues = _Issues()
    clean = {
        "table_id": _check(issues, body, "table_id", "string", nullable=False),
        "name": _check(issues, body, "name", "string", nullable=False, optional=False),
        "description": _check(issues, body, "description", "string", nullable=False, optional=False),
        "timestamp": _check(issues, body, "timestamp", "number"),
        "tags": _check(issues, body, "tags", "string[]"),
        "parent_id": _check(issues, body, "parent_id", "string"),
        "parents": _check(issues, body, "parents", "string[]"),
        "remote_database_table_id": _check(issues, body, "remote_database_table_id", "string"),
        "remote_database_secret_id": _check(issues, body, "remote_database_secret_id", "string"),
        "title": _check(issues, body, "title", "string", nullable=False, optional=False),
        "mime_type": _check(issues, body, "mime_type", "string"),
        "source_url": _check(issues, body, "source_url", "string"),
    }
    issues.raise_if_any(prefix)
    return clean


_SAFE_INT = 2**53


_CELL_KINDS = {str, bool, type(None), int, float, dict}


class _CellPlans:
    """Which cells of a row need a closer look, per row shape (the tuple of cell types).

    Rows of a batch nearly always share a shape, so the per-cell type dispatch runs once per shape;
    each row then only revisits its int, float and object cells.
    """

    def __init__(self) -> None:
        self._plans: dict[tuple[type, ...], tuple[int, ...] | None] = {}

    def plan(self, kinds: tuple[type, ...]) -> tuple[int, ...] | None:
        """Positions to check, or ``None`` when a cell type is not allowed at all."""
        try:
            return self._plans[kinds]
        except KeyError:
            if not set(kinds) <= _CELL_KINDS:
                plan = None
            else:
                plan = tuple(
                    i for i, kind in enumerate(kinds) if kind is int or kind is float or kind is dict
                )
            self._plans[kinds] = plan
            return plan


def _clean_value(value: dict[str, Any], plans: _CellPlans) -> dict[str, Any] | None:
    """Validate one row value like the zod record of cells; ``None`` if a cell is invalid.

    Returns the same dict when nothing needs normalising (the common case).
    """
    cells = list(value.values())
    plan = plans.plan(tuple(map(type, cells)))
    if plan is None:
        return None
    changed: dict[str, Any] | None = None
    for position in plan:
        cell = cells[position]
        kind = type(cell)
        if kind is int:
            if -_SAFE_INT <= cell <= _SAFE_INT:
                continue
            normalised: Any = js_number(cell)
        elif kind is float:
            if not cell.is_integer():
                continue
            normalised = js_number(cell)
        else:
            epoch = cell.get("epoch")
            if cell.get("type") != "datetime" or type(epoch) not in (int, float):
                return None
            if len(cell) == 2 and type(epoch) is int and -_SAFE_INT <= epoch <= _SAFE_INT:
                continue  # already what zod would produce
            normalised = {"type": "datetime", "epoch": js_number(epoch)}  # zod strips unknown keys
        if changed is None:
            changed = dict(value)
        changed[list(value)[position]] = normalised
    return value if changed is None else changed


def rows_body(raw: Any) -> tuple[list[tuple[str, dict[str, Any]]], bool]:
    prefix = "Invalid request body"
    body = _expect_object(raw, prefix)
    issues = _Issues()
    truncate = _check(issues, body, "truncate", "boolean", nullable=False)
    rows = body.get("rows", _MISSING)
    clean_rows: list[tuple[str, dict[str, Any]]] = []
    plans = _CellPlans()
    if rows is _MISSING:
        issues.add("Required", ["rows"])
    elif not isinstance(rows, list):
        issues.add(f"Expected array, received {_kind(rows)}", ["rows"])
    else:
        for index, row in enumerate(rows):
            if type(row) is not dict:
                issues.add(f"Expected object, received {_kind(row)}", ["rows", index])
                continue
            row_id, value = row.get("row_id", _MISSING), row.get("value", _MISSING)
            if type(row_id) is not str:
                issues.add("Required" if row_id is _MISSING else "Expected string", ["rows", index, "row_id"])
            if type(value) is not dict:
                issues.add("Required" if value is _MISSING else "Expected object", ["rows", index, "value"])
                continue
            clean_value = _clean_value(value, plans)
            if clean_value is None:
                issues.add("Invalid input", ["rows", index, "value"])
            elif type(row_id) is str:
                clean_rows.append((row_id, clean_value))
            if len(issues.items) > 5:
                break
    issues.raise_if_any(prefix)
    # Key checks run once per distinct key, not once per cell.
    keys: set[str] = set()
    for _, value in clean_rows:
        keys.update(value)
    if not all(ROW_KEY.match(key) for key in keys):
        raise invalid_request("Invalid request body: keys must be lowercase alphanumeric.")
    if any(key.isdigit() for key in keys):
        clean_rows = [(row_id, js_key_order(value)) for row_id, value in clean_rows]
    return clean_rows, bool(truncate)
