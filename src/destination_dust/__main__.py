"""Entrypoint: `destination-dust spec | check --config F | write --config F --catalog F` (and `python main.py`).

Every failure ends as one Airbyte TRACE error (config_error, transient_error or system_error) and exit code
1; nothing but Airbyte messages goes to stdout; the api_key is masked in everything printed.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from destination_dust.catalog import StreamConfig, StreamKey, parse_catalog
from destination_dust.check import check_connection, preflight
from destination_dust.client import DustClient
from destination_dust.config import DustConfig, load_spec, parse_config, secret_fields
from destination_dust.errors import ConfigError, DestinationError
from destination_dust.protocol import Output, setup_logging
from destination_dust.redact import REDACT
from destination_dust.stream_settings import not_in_catalog, unmatched_message

logger = logging.getLogger("destination_dust")

MALLOC_ARENAS = 2
MMAP_THRESHOLD = 256 * 1024
_M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
_M_MMAP_THRESHOLD = -3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage to stderr and exit 2
        raise ConfigError(f"invalid command line: {message}. Usage: destination-dust spec|check|write")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="destination-dust", description="Airbyte destination for Dust")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    commands.add_parser("spec", help="print the connector specification")
    check = commands.add_parser("check", help="check the config against Dust (read-only)")
    check.add_argument("--config", required=True)
    check.add_argument("--catalog", help="optional: also warn about `streams` entries that match no stream")
    write = commands.add_parser("write", help="write the messages read on stdin")
    write.add_argument("--config", required=True)
    write.add_argument("--catalog", required=True)
    return parser


def _read_json(path: str, what: str) -> Any:
    try:
        return orjson.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"the {what} file {path!r} does not exist") from None
    except orjson.JSONDecodeError as exc:
        raise ConfigError(f"the {what} file {path!r} is not valid JSON (line {exc.lineno})") from None
    except OSError as exc:
        raise ConfigError(f"the {what} file {path!r} cannot be read: {exc.strerror}") from None


def _load_config(path: str) -> DustConfig:
    raw = _read_json(path, "config")
    if isinstance(raw, dict):  # mask the secrets before anything can print them
        REDACT.add(raw.get(name) for name in secret_fields())
    return parse_config(raw)


def _warn_unmatched(config: DustConfig, streams: dict[StreamKey, StreamConfig]) -> None:
    unmatched = not_in_catalog(config.streams, list(streams))
    if unmatched:
        logger.warning(unmatched_message(unmatched))


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Cap glibc's malloc arenas, for the whole process, before `write` starts its worker threads.

    glibc gives each thread that allocates under contention its own arena (up to 8 per core); the workers
    allocate and free ~1 MB request bodies, which leaves every arena fragmented and RSS about three times
    higher on large tables syncs (docs/benchmarks.md). Python's small objects come from pymalloc under the
    GIL, so fewer arenas cost nothing. Same effect as MALLOC_ARENA_MAX=2; a no-op off glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        # the process's own symbols, libc's included (ctypes.util.find_library would run ldconfig)
        libc = ctypes.CDLL(None)
        # a fixed mmap threshold: glibc no longer raises it after each freed body, so ~1 MB bodies stay
        # mmapped and go back to the system when freed instead of fragmenting the heap
        libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        return bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


def main(argv: list[str], output: Output) -> int:
    args = _parser().parse_args(argv)
    if args.command == "spec":
        output.message({"type": "SPEC", "spec": load_spec()}, flush=True)
        return 0
    if args.command == "check":
        try:
            config = _load_config(args.config)
            if args.catalog:
                streams = parse_catalog(_read_json(args.catalog, "catalog"), config.format_for)
                _warn_unmatched(config, streams)
                from destination_dust.compose_sink import compositions  # the sinks' imports: only when asked

                compositions(streams, config)  # a composition that does not fit the catalog fails here
            problem = check_connection(config)
        except ConfigError as exc:
            problem = exc.message
        status = {"status": "FAILED", "message": problem} if problem else {"status": "SUCCEEDED"}
        output.message({"type": "CONNECTION_STATUS", "connectionStatus": status}, flush=True)
        return 0
    config = _load_config(args.config)
    streams = parse_catalog(_read_json(args.catalog, "catalog"), config.format_for)
    _warn_unmatched(config, streams)
    limit_malloc_arenas()  # before the first thread (the preflight's) allocates
    client = DustClient(config)
    # A wrong key or data source fails before a record is read. That check waits on Dust, so it runs on a thread
    # while this one imports and builds the writer.
    with ThreadPoolExecutor(1, thread_name_prefix="preflight") as background:
        checked = background.submit(preflight, client, config)
        from destination_dust.writer import Writer  # only `write` needs the sinks (and their imports)

        try:
            writer = Writer(config, streams, output, client)  # lists the tables, in tables mode
        finally:
            checked.result()  # a failed check explains a wrong key or data source better than the listing
    writer.run(sys.stdin.buffer)
    return 0


def run(argv: list[str] | None = None) -> None:
    output = Output()
    setup_logging(output)
    try:
        code = main(sys.argv[1:] if argv is None else argv, output)
    except DestinationError as exc:
        output.trace_error(exc.message, exc.failure_type, exc.internal)
        code = 1
    except KeyboardInterrupt:
        output.trace_error("the sync was interrupted", "transient_error")
        code = 1
    except Exception as exc:
        output.trace_error(
            f"unexpected error in destination-dust: {type(exc).__name__}: {exc}",
            "system_error",
            internal=traceback.format_exc(),
        )
        code = 1
    output.flush()
    sys.exit(code)


if __name__ == "__main__":
    run()
