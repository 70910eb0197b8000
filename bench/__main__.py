"""`python -m bench [--quick] [--soak] [--only NAME ...] [--out FILE]` (`make bench`).

Runs the scenarios of bench/scenarios.py against dust-emulator subprocesses, prints a table (scenario,
baseline, ours, ratio, 429 count, peak RSS, target met) and writes it to docs/benchmarks.md (full runs; a
quick run writes only where --out says). The sharing scenarios of bench/sharing.py (`--only ratelimit`; part
of full runs, not of --quick ones unless named) have their own table and their own section of the page."""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import platform
import sys
import time
from pathlib import Path

from bench import scenarios, sharing
from bench.harness import ROOT, Workdir
from bench.scenarios import Row

HEADER = "| scenario | baseline | ours | ratio | 429s | peak RSS (MB) | target | met |"


def table(rows: list[Row]) -> str:
    lines = [HEADER, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r.scenario} | {r.baseline} | {r.ours} | {r.ratio} | {r.n429} | {r.peak_rss_mb:.0f} | "
            f"{r.target} | {'yes' if r.met else 'NO'} |"
        )
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    return "\n".join(f"- {r.scenario}: {r.notes}" for r in rows if r.notes)


BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
SHARING_BEGIN, SHARING_END = "<!-- bench:ratelimit:begin -->", "<!-- bench:ratelimit:end -->"


def write_section(path: Path, body: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the generated part of `path` (between the markers), keeping the prose around it."""
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        tail = rest.split(end, 1)[1]
        path.write_text(f"{head}{begin}\n{body}{end}{tail}")
    else:
        path.write_text(f"{old}{begin}\n{body}{end}\n")


def compile_sources() -> None:
    """Write the bytecode of the checkout's code, as `pip install` does for an installed connector (and the
    Docker image). Every measured process imports the sources of this checkout, and these machines set
    PYTHONDONTWRITEBYTECODE: without this each connector run would compile its modules again at start-up,
    which no installed connector does (the naive baseline's one module is compiled too)."""
    for folder in ("src", "bench"):
        compileall.compile_dir(str(ROOT / folder), quiet=1)


def run(*, quick: bool = False, soak: bool = False, only: list[str] | None = None) -> list[Row]:
    compile_sources()
    chosen = [(n, f) for n, f in scenarios.SCENARIOS if not only or n in only]
    if quick and not only:
        chosen = [(n, f) for n, f in chosen if n != "memory"]
    if soak:
        chosen.append(("soak", scenarios.soak))
    rows: list[Row] = []
    work = Workdir()
    try:
        for name, scenario in chosen:
            t0 = time.monotonic()
            print(f"running {name} ...", file=sys.stderr, flush=True)
            result = scenario(work, quick)
            rows.extend(result if isinstance(result, list) else [result])
            print(f"  {name} done in {time.monotonic() - t0:.0f}s", file=sys.stderr, flush=True)
    finally:
        work.close()
    return rows


def run_sharing(*, quick: bool = False) -> list[sharing.SharingRow]:
    compile_sources()
    work = Workdir()
    try:
        print(f"running {sharing.NAME} ...", file=sys.stderr, flush=True)
        return sharing.run(work, quick)
    finally:
        work.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (smoke test, < 60 s)")
    parser.add_argument(
        "--soak", action="store_true", help="also run the memory soak (1M rows, 50k documents)"
    )
    names = [*(n for n, _ in scenarios.SCENARIOS), sharing.NAME]
    parser.add_argument("--only", nargs="*", choices=names, help="scenario names: " + ", ".join(names))
    parser.add_argument(
        "--out", help="write the markdown table here (default for full runs: docs/benchmarks.md)"
    )
    args = parser.parse_args(argv)
    only = args.only or []
    regular = not only or any(n != sharing.NAME for n in only)
    shared = sharing.NAME in only or (not only and not args.quick)
    out = args.out or (None if args.quick else str(ROOT / "docs" / "benchmarks.md"))
    command = "python -m bench" + (" --quick" if args.quick else "") + (" --soak" if args.soak else "")
    if args.only:
        command += " --only " + " ".join(args.only)
    met = True
    if regular:
        started = time.monotonic()
        rows = run(quick=args.quick, soak=args.soak, only=args.only)
        text = table(rows)
        print(text)
        if out:
            body = f"{_generated(command, started)}\n\n{text}\n"
            if notes(rows):
                body += f"\n{notes(rows)}\n"
            write_section(Path(out), body)
        met = all(r.met for r in rows)
    if shared:
        started = time.monotonic()
        shared_rows = run_sharing(quick=args.quick)
        text = sharing.table(shared_rows)
        print(text)
        if out:
            body = f"{_generated(command, started)}\n\n{text}\n"
            write_section(Path(out), body, SHARING_BEGIN, SHARING_END)
        met = met and all(r.met for r in shared_rows)
    return 0 if met else 1


def _generated(command: str, started: float) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"<!-- generated by `{command}` on {stamp}, {platform.python_version()}, "
        f"{scenarios.cpu_note()}; took {time.monotonic() - started:.0f}s -->"
    )


if __name__ == "__main__":
    sys.exit(main())
