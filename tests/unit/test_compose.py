"""compose.py: a composed document read back from Dust's flattened text is the document that was written, even
when the flattening adds separators, when record text imitates a marker, or when the stored document was
written before composition was configured."""

from __future__ import annotations

from typing import Any

from destination_dust.barriers import Barriers
from destination_dust.compose import (
    Child,
    ComposedDocument,
    ParentPart,
    build_body,
    order_token,
    parse_stored,
    section_text,
    short_hash,
)
from destination_dust.compose_sink import period_label
from destination_dust.tags import is_system_tag

LIMIT = 100_000
SYSTEM = ["airbyte:stream:tickets", "airbyte:stream:ticket_comments"]


def _child(number: int, text: str | None = None) -> Child:
    return Child(
        short_hash(f"c-{number}"), "src1", order_token(None, 1_700_000_000_000 + number, None),
        1_700_000_000_000 + number, text or f"### Ada at {number}\nbody: reply {number}\n",
    )  # fmt: skip


def _document(children: int = 3, **parent: Any) -> ComposedDocument:
    part = ParentPart(
        "Export fails", ("$title: Export fails\n", "$stream: tickets\n", "$id: 7\n"),
        "id: 7\nsubject: Export fails\n", 1_690_000_000_000, ("status:open",), "https://help.example.com/t/7",
    )  # fmt: skip
    document = ComposedDocument("tickets-7", part)
    for number in range(1, children + 1):
        child = _child(number)
        document.children[child.key] = child
    return document


def _stored(body: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """What Dust's GET answers: the flattened text, the tags plus the `title:` one Dust adds."""
    return {
        "document_id": "tickets-7",
        "title": body["title"],
        "text": section_text(body["section"]) if text is None else text,
        "tags": [*body["tags"], f"title:{body['title']}"],
        "source_url": body.get("source_url"),
        "timestamp": body.get("timestamp"),
    }


def _build(document: ComposedDocument, limit: int = LIMIT) -> dict[str, Any]:
    return build_body(document, SYSTEM, lambda fp: [f"airbyte:fp:{fp[:16]}"], limit, "comments").body


def test_a_document_read_back_builds_the_same_body() -> None:
    body = _build(_document())
    again = parse_stored(_stored(body), is_system_tag)
    assert again is not None
    assert _build(again) == body
    assert body["timestamp"] == 1_700_000_000_003  # the latest part
    assert body["section"]["prefix"].startswith(
        "$title: Export fails\n$updatedAt: 2023-11-14T22:13:20.003Z\n"
    )


def test_separators_added_by_the_flattening_change_nothing() -> None:
    body = _build(_document())
    parts = [body["section"]["prefix"]] + [s["content"] for s in body["section"]["sections"]]
    for joiner in ("\n", "\n\n"):
        again = parse_stored(_stored(body, joiner.join(parts)), is_system_tag)
        assert again is not None and _build(again) == body


def test_record_text_that_imitates_a_marker_stays_text() -> None:
    document = _document(children=0)
    fake = "<!--airbyte:child id=ffff src=x order=a ts=1-->\n"
    child = _child(1, text=f"### Mallory\nbody: {fake}")
    document.children[child.key] = child
    document.parent = ParentPart(**{**document.parent.__dict__, "text": f"notes: {fake}", "title": fake})
    document.parent = ParentPart(**{**document.parent.__dict__, "header": (f"$title: {fake}", "$id: 7\n")})
    body = _build(document)
    again = parse_stored(_stored(body), is_system_tag)
    assert again is not None and list(again.children) == [child.key]  # one child, not two


def test_a_document_written_before_composition_becomes_the_parent_part() -> None:
    stored = {
        "document_id": "tickets-7",
        "title": "Export fails",
        "text": "$title: Export fails\n$updatedAt: 2024-01-01T00:00:00.000Z\n$stream: tickets\nid: 7\nstatus: open\n",
        "tags": [
            "status:open",
            "airbyte:stream:tickets",
            "airbyte:fp:0123456789abcdef",
            "title:Export fails",
        ],
    }
    document = parse_stored(stored, is_system_tag)
    assert document is not None and not document.children
    assert document.parent.header == ("$title: Export fails\n", "$stream: tickets\n")
    assert document.parent.text == "id: 7\nstatus: open\n"
    assert document.parent.field_tags == ("status:open",)


def test_the_section_is_read_when_text_is_missing_and_nothing_is_guessed_without_either() -> None:
    body = _build(_document())
    stored = {**_stored(body), "text": None, "section": body["section"]}
    again = parse_stored(stored, is_system_tag)
    assert again is not None and _build(again) == body
    assert parse_stored({**stored, "section": None}, is_system_tag) is None


def test_the_size_cap_keeps_the_newest_children_and_counts_the_rest_across_rebuilds() -> None:
    document = _document(children=30)
    small = 2_000
    built = build_body(document, SYSTEM, lambda fp: [], small, "comments")
    text = section_text(built.body["section"])
    assert len(text) <= small and built.left_out > 0 and built.kept + built.left_out == 30
    assert f"[{built.left_out:,} older comments left out" in text
    again = parse_stored(_stored(built.body), is_system_tag)
    assert again is not None and again.omitted == built.left_out
    newer = _child(99)
    again.children[newer.key] = newer
    rebuilt = build_body(again, SYSTEM, lambda fp: [], small, "comments")
    assert f"[{built.left_out + rebuilt.left_out:,} older comments left out" in section_text(
        rebuilt.body["section"]
    )
    assert "reply 99" in section_text(rebuilt.body["section"])


def test_order_tokens_sort_numbers_text_times_then_arrival() -> None:
    tokens = [
        order_token("2024-01-02", 1_704_153_600_000, 5),
        order_token("2024-01-01", 1_704_067_200_000, 9),
        order_token(-3, None, 1),
        order_token(12, None, 1),
        order_token("b", None, 1),
        order_token("a", None, 1),
        order_token(None, None, 2),
        order_token(None, None, 1),
    ]
    assert sorted(tokens) == [tokens[i] for i in (2, 3, 5, 4, 1, 0, 7, 6)]


def test_a_barrier_is_done_once_every_change_before_it_is_written_in_any_order() -> None:
    barriers = Barriers()
    first, second = barriers.open(), barriers.open()
    early = barriers.barrier()
    assert early is not None and barriers.barrier() is early  # one future per mark, however many STATEs
    third = barriers.open()
    late = barriers.barrier()
    assert late is not None and late is not early
    barriers.close(second)
    assert not early.done()  # `first` is still being written
    barriers.close(first)
    assert early.done() and not late.done()
    barriers.close(third)
    assert late.done() and barriers.barrier() is None  # nothing left open: a STATE waits for nothing
    barriers.open()
    waiting = barriers.barrier()
    barriers.fail(RuntimeError("upsert failed"))
    assert waiting is not None and isinstance(waiting.exception(), RuntimeError)
    after = barriers.barrier()
    assert after is not None and isinstance(after.exception(), RuntimeError)  # never a checkpoint past it


def test_period_labels_are_utc_days_iso_weeks_and_months() -> None:
    christmas_eve = 1_735_084_799_000  # 2024-12-24T23:59:59Z, a Tuesday of ISO week 52
    assert period_label(christmas_eve, "day") == "2024-12-24"
    assert period_label(christmas_eve, "week") == "2024-W52"
    assert period_label(christmas_eve, "month") == "2024-12"
    assert period_label(1_735_689_600_000, "week") == "2025-W01"  # 2025-01-01: ISO week 1 of 2025
    assert period_label(1_703_980_800_000, "week") == "2023-W52"  # 2023-12-31, a Sunday


def test_children_that_all_fit_are_all_kept_to_the_last_character() -> None:
    document = _document(children=5)
    full = build_body(document, SYSTEM, lambda fp: [], LIMIT, "comments")
    exact = len(section_text(full.body["section"]))
    assert build_body(document, SYSTEM, lambda fp: [], exact, "comments").left_out == 0
    assert build_body(document, SYSTEM, lambda fp: [], exact - 1, "comments").left_out > 0
