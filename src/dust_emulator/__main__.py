"""``dust-emulator serve ...`` / ``python -m dust_emulator serve ...``."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence

from .limits import FaultSettings
from .server import (
    EmulatorServer,
    build_state,
    quiet_uvicorn_errors,
    show_access_log,
    use_uvicorn_logging,
)
from .state import MIB, Settings

# The collector's first threshold for the emulator's process. CPython counts the tracked objects still
# alive: a 500-row body parses into ~20,000 dicts that live until the answer, which at the default (700)
# makes the collector scan them again and again mid-request. Far above one request's objects, it runs
# between requests instead, on what is left.
GC_THRESHOLD = 100_000


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dust-emulator", description="A local Dust (dust.tt) API.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the emulator")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8787, help="0 picks a free port")
    serve.add_argument("--db", default=":memory:", help="SQLite file (kept across restarts) or :memory:")
    serve.add_argument("--config-out", help="write a destination config JSON pointing at the emulator")
    serve.add_argument("--no-seed", action="store_true", help="do not create the default workspace")
    serve.add_argument("--access-log", action="store_true", help="log each request (never headers)")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false", help="the default")

    limits = serve.add_argument_group("Dust limits")
    limits.add_argument("--doc-size-limit-mb", type=float, default=2.0, help="plan document size (-1 = none)")
    limits.add_argument("--doc-body-limit-mb", type=float, default=8.0, help="413 above this (documents)")
    limits.add_argument(
        "--table-body-limit-mb", type=float, default=1.0, help="413 above this (tables, rows)"
    )
    limits.add_argument("--rate-limit", type=int, default=120, help="document POSTs per window (0 = off)")
    limits.add_argument("--rate-window", type=float, default=60.0, help="rate-limit window in seconds")
    limits.add_argument("--async-delay-ms", type=int, default=0, help="visibility delay of async upserts")

    faults = serve.add_argument_group("fault injection (only /api/v1/ routes)")
    faults.add_argument("--seed", type=int, default=0, help="seed of every random fault decision")
    faults.add_argument("--latency-ms", type=float, default=0.0)
    faults.add_argument("--latency-jitter-ms", type=float, default=0.0)
    faults.add_argument("--fault-5xx-rate", type=float, default=0.0)
    faults.add_argument("--fault-5xx-statuses", default="500,502,503")
    faults.add_argument("--fault-reset-rate", type=float, default=0.0, help="close connections, no answer")
    faults.add_argument("--fault-slow-rate", type=float, default=0.0)
    faults.add_argument("--slow-seconds", type=float, default=0.0)
    faults.add_argument("--fault-413-over-bytes", type=int, default=0)
    faults.add_argument("--burst-429", type=int, default=0, help="next N document POSTs answer 429")
    faults.add_argument("--burst-quota", type=int, default=0, help="next N document POSTs answer 403 quota")
    faults.add_argument("--fail-once-per-route", action="store_true")
    faults.add_argument("--fault-routes", default="all", help="comma list: documents,tables,rows,... or all")
    faults.add_argument("--fault-methods", default="all", help="comma list: POST,GET,DELETE or all")
    faults.add_argument("--hostile-echo-key", action="store_true", help="echo the API key in error messages")
    return parser


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def serve(args: argparse.Namespace) -> int:
    # the whole process is the emulator's: these settings are the CLI's (an embedded emulator leaves them)
    gc.set_threshold(GC_THRESHOLD)
    use_uvicorn_logging()
    settings = Settings(
        rate_limit=args.rate_limit,
        rate_window_s=args.rate_window,
        doc_size_limit_mb=args.doc_size_limit_mb,
        doc_body_limit_bytes=int(args.doc_body_limit_mb * MIB),
        table_body_limit_bytes=int(args.table_body_limit_mb * MIB),
        hostile_echo_key=args.hostile_echo_key,
        async_delay_ms=args.async_delay_ms,
    )
    faults = FaultSettings.from_dict(
        {
            "seed": args.seed,
            "latency_ms": args.latency_ms,
            "latency_jitter_ms": args.latency_jitter_ms,
            "error_5xx_rate": args.fault_5xx_rate,
            "error_5xx_statuses": [int(s) for s in _csv(args.fault_5xx_statuses)],
            "reset_rate": args.fault_reset_rate,
            "slow_rate": args.fault_slow_rate,
            "slow_seconds": args.slow_seconds,
            "max_request_bytes": args.fault_413_over_bytes,
            "burst_429": args.burst_429,
            "burst_quota": args.burst_quota,
            "fail_once_per_route": args.fail_once_per_route,
            "routes": _csv(args.fault_routes),
            "methods": _csv(args.fault_methods),
        }
    )
    state = build_state(args.db, settings, faults, seed=not args.no_seed)
    server = EmulatorServer(state, args.host, args.port, access_log=args.access_log)
    quiet_uvicorn_errors()
    if args.access_log:
        show_access_log()

    def announce() -> None:
        if state.seed is not None:
            shown = {k: v for k, v in state.seed.items() if "api_key" not in k}
            # Only a hint of the key: the emulator never prints secrets (read them from /__emulator/config).
            shown["api_key_hint"] = state.seed["api_key"][:3] + "…" + state.seed["api_key"][-4:]
            print("dust-emulator seed " + json.dumps(shown, sort_keys=True), flush=True)
        if args.config_out:
            _write_private(args.config_out, json.dumps(state.connector_config(), indent=2) + "\n")
            print(f"dust-emulator config written to {args.config_out}", flush=True)
        print(f"dust-emulator listening on {server.base_url}", flush=True)

    server.run(on_ready=announce)
    print("dust-emulator stopped", flush=True)
    return 0


def _write_private(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "serve":
            return serve(args)
    except ValueError as exc:
        print(f"dust-emulator: {exc}", file=sys.stderr)
        return 2
    return 1


if __name__ == "__main__":
    sys.exit(main())
