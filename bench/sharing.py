"""Sharing Dust's document-upsert budget (`python -m bench --only ratelimit`): the connector syncs documents
at a scaled window while another client process (bench/competitor.py) spends the same workspace's budget.

Dust's 120 per 60 s becomes LIMIT per WINDOW seconds (the connector is told the window, see
harness.window_env); the competitor's schedule scales with it (its "1 per second" is one per WINDOW / 60).
Each row compares our wall time with the ideal: when a client that knew Dust's window and every send the
competitor got accepted would have finished (`ideal_seconds`)."""

from __future__ import annotations

import bisect
import math
import subprocess
import time
from dataclasses import dataclass
from typing import Any

import orjson

from bench import harness
from bench.harness import PYTHON, Workdir
from destination_dust.ratelimit import REJECTIONS_PER_WINDOW

NAME = "ratelimit"
HEADER = (
    "| scenario | wall | ideal | ours / ideal | our 429s (per window) | competitor's accepted sends | target "
    "| met |"
)


@dataclass
class SharingRow:
    scenario: str
    wall: float
    ideal: float
    n429: int
    window: float
    competitor_accepted: int  # in all
    competitor_during: int  # while we ran
    competitor_refused: int
    competitor_asked: float  # sends its schedule wanted while we ran (0: it had stopped)
    ours_accepted: int
    landed: int
    documents: int
    max_ratio: float
    no_429: bool = False  # alone: the target includes zero 429s

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal

    @property
    def n429_per_window(self) -> float:
        return self.n429 / (self.wall / self.window)

    @property
    def met(self) -> bool:
        within_policy = self.n429 == 0 if self.no_429 else self.n429_per_window <= REJECTIONS_PER_WINDOW
        return self.landed == self.documents and self.ratio <= self.max_ratio and within_policy

    @property
    def target(self) -> str:
        limit = "0 x 429" if self.no_429 else f"<= {REJECTIONS_PER_WINDOW} 429s per window"
        return f"<= {self.max_ratio:g} x ideal, {limit}, every document landed"

    def line(self) -> str:
        during = self.competitor_during
        asked = self.competitor_asked
        share = (
            f"{during} while we ran ({during / (during + self.ours_accepted):.0%} of the accepted sends"
            + (f"; {during / asked:.0%} of the {asked:.0f} its schedule asked for" if asked else "")
            + f"); {self.competitor_accepted} in all, {self.competitor_refused} refused"
        )
        return (
            f"| {self.scenario} | {self.wall:.1f}s ({self.landed}/{self.documents} landed) | {self.ideal:.1f}s | "
            f"{self.ratio:.2f} | {self.n429} ({self.n429_per_window:.1f}) | {share} | {self.target} | "
            f"{'yes' if self.met else 'NO'} |"
        )


def table(rows: list[SharingRow]) -> str:
    return "\n".join([HEADER, "|---|---|---|---|---|---|---|---|", *(r.line() for r in rows)])


def ideal_seconds(
    documents: int, start: float, competitor: list[float], limit: int, window: float, share: int | None = None
) -> float:
    """When a client that knows Dust's window finishes `documents` upserts begun at `start`: it sends as many
    as fit whenever the window has room (and it holds fewer than its `share`), but never takes a slot one of
    the competitor's accepted sends needed (they stay where they were). A send at t counts in every window
    (u - window, u] with u in [t, t + window), so it must fit at t and at each later competitor send within
    the window."""
    others = sorted(competitor)
    ours: list[float] = []

    def count(xs: list[float], u: float) -> int:
        return bisect.bisect_right(xs, u) - bisect.bisect_right(xs, u - window)

    t = start
    while True:
        later = others[bisect.bisect_right(others, t) : bisect.bisect_left(others, t + window)]
        room = min(limit - count(others, u) - count(ours, u) for u in (t, *later))
        room = min(room, (share or limit) - count(ours, t))
        if room > 0:
            ours.extend([t] * min(room, documents - len(ours)))
            if len(ours) == documents:
                return t - start
        # the next moment the room can grow: a send leaves the window, or t passes a competitor's send
        moments = [
            xs[i] + window for xs in (others, ours) if (i := bisect.bisect_right(xs, t - window)) < len(xs)
        ]
        if later:
            moments.append(later[0] + 1e-9)
        t = max(min(moments), math.nextafter(t, math.inf))  # x > t - window may round to x + window == t


def _competitor(work: Workdir, config: dict[str, Any], mode: list[str]) -> subprocess.Popen[bytes]:
    path = work.write_json("competitor-config.json", config)
    return subprocess.Popen(
        [PYTHON, "-m", "bench.competitor", str(path), *mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=harness.ROOT,
    )


def _outcome(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """Stop the competitor (its stdin closes) and read what it got."""
    stdout, _ = process.communicate(timeout=60)
    if process.returncode != 0:
        raise RuntimeError(f"the competitor failed (exit {process.returncode})")
    result: dict[str, Any] = orjson.loads(stdout.splitlines()[-1])
    return result


def _scenario(
    work: Workdir,
    name: str,
    *,
    limit: int,
    window: float,
    documents: int,
    competitor: list[str] | None,
    lead: float,
    max_ratio: float,
    share: int | None = None,
) -> SharingRow:
    """One sync of `documents` while `competitor` (bench.competitor's arguments) runs; it starts `lead`
    seconds before us (a burst is sent whole first, and we start `lead` after its first accepted send).
    `share`: our document_upserts_per_minute in the scaled window (default: the whole limit)."""
    data = harness.generate(work.path / f"sharing-{documents}.jsonl", documents)
    with harness.start_emulator(rate_limit=limit, rate_window=window) as emu:
        process = _competitor(work, emu.config, competitor) if competitor else None
        outcome: dict[str, Any] = {"accepted": [], "refused": 0}
        if process is not None and competitor and competitor[0] == "burst":
            outcome = _outcome(process)
            process = None
            time.sleep(max(0.0, outcome["accepted"][0] + lead - time.monotonic()))
        else:
            time.sleep(lead)
        per_minute = round((share or limit) * 60 / window)
        config = harness.connector_config(emu, document_upserts_per_minute=per_minute)
        start = time.monotonic()
        try:
            ours = harness.run_connector(work, config, env=harness.window_env(window), stdin_file=data)
        finally:  # the competitor stops even when the sync failed
            if process is not None:
                outcome = _outcome(process)
        accepted: list[float] = outcome["accepted"]
        landed = harness.documents_total(emu) - len(accepted)
        n429 = harness.status_count(emu, 429) - outcome["refused"]
        ours_accepted = harness.document_posts(emu) - len(accepted)
    during = sum(1 for t in accepted if start <= t <= start + ours.seconds)
    asked = ours.seconds / float(competitor[1]) if competitor and competitor[0] != "burst" else 0.0
    return SharingRow(
        name,
        ours.seconds,
        ideal_seconds(documents, start, accepted, limit, window, share),
        n429,
        window,
        len(accepted),
        during,
        outcome["refused"],
        asked,
        ours_accepted,
        landed,
        documents,
        max_ratio,
        no_429=competitor is None,
    )


def run(work: Workdir, quick: bool) -> list[SharingRow]:
    """Alone, after another client's burst, and beside a steady one (polite or persistent on refusal)."""
    # 360 documents are three windows alone (the measure); beside a steady client 240 are four
    limit, window, alone, steady = (20, 2.0, 60, 40) if quick else (120, 20.0, 360, 240)
    scale = window / 60  # Dust's seconds to the scaled window's
    tick = 1.0 * scale  # the steady competitor's 1 document per second: half the budget
    polite, persistent = ["polite", str(tick)], ["persistent", str(tick), str(0.2 * scale)]
    burst = limit * 5 // 6
    # (name, documents, the competitor's arguments, its lead, the ratio to meet, our share of the window)
    cases: list[tuple[str, int, list[str] | None, float, float, int | None]] = [
        ("alone", alone, None, 0.0, 1.05, None),
        (
            f"another client sent {burst} just before us, then stopped",
            alone,
            ["burst", str(burst)],
            10 * scale,
            1.1,
            None,
        ),
    ]
    if not quick:
        cases += [
            (
                "another client sends 1/s throughout, retries at its next tick",
                steady,
                polite,
                window,
                1.1,
                None,
            ),
            (
                "another client sends 1/s throughout, retries every 0.2 s",
                steady,
                persistent,
                window,
                1.1,
                None,
            ),
            (
                "the same polite client; our share set to half (document_upserts_per_minute 60)",
                steady,
                polite,
                window,
                1.1,
                limit // 2,
            ),
        ]
    return [
        _scenario(
            work,
            f"{documents} documents, {limit} per {window:g}s: {name}",
            limit=limit,
            window=window,
            documents=documents,
            competitor=competitor,
            lead=lead,
            max_ratio=max_ratio,
            share=share,
        )
        for name, documents, competitor, lead, max_ratio, share in cases
    ]
