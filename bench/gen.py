"""Generates Airbyte RECORD lines (and a STATE every 1,000 records) on stdout, fast, deterministic.

`python -m bench.gen users N [--text-bytes B] [--offset K]`: user-like records shaped like source-faker's
`users` (id, name, email, address, timestamps), with a `bio` of B bytes (documents benchmarks use it to make
large documents). Used where source-faker is not needed or too slow (1M-record runs)."""

from __future__ import annotations

import argparse
import sys

import orjson

WORDS = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]


def bio(i: int, size: int) -> str:
    if size <= 0:
        return ""
    base = " ".join(WORDS[(i + k) % len(WORDS)] for k in range(64))
    text = (base + " ") * (size // len(base) + 1)
    return f"user {i}: " + text[:size]


def record(i: int, text_bytes: int) -> dict[str, object]:
    return {
        "id": i,
        "name": f"User {i}",
        "email": f"user{i}@example.com",
        "age": 18 + i % 60,
        "title": "Dr." if i % 7 == 0 else "Mx.",
        "occupation": WORDS[i % len(WORDS)],
        "address": {"city": WORDS[(i * 3) % len(WORDS)].title(), "postal_code": f"{i % 99999:05d}"},
        "bio": bio(i, text_bytes),
        "created_at": f"2024-01-{1 + i % 28:02d}T10:{i % 60:02d}:00+00:00",
        "updated_at": f"2024-02-{1 + i % 28:02d}T11:{i % 60:02d}:00+00:00",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("stream")
    parser.add_argument("count", type=int)
    parser.add_argument("--text-bytes", type=int, default=200)
    parser.add_argument("--offset", type=int, default=0)
    args = parser.parse_args()
    out = sys.stdout.buffer
    emitted_at = 1_700_000_000_000
    state_every = 1000
    for n in range(args.count):
        i = args.offset + n
        line = {
            "type": "RECORD",
            "record": {"stream": args.stream, "data": record(i, args.text_bytes), "emitted_at": emitted_at},
        }
        out.write(orjson.dumps(line) + b"\n")
        if (n + 1) % state_every == 0 or n + 1 == args.count:
            state = {
                "type": "STATE",
                "state": {
                    "type": "STREAM",
                    "stream": {"stream_descriptor": {"name": args.stream}, "stream_state": {"cursor": i}},
                },
            }
            out.write(orjson.dumps(state) + b"\n")
    out.flush()


if __name__ == "__main__":
    main()
