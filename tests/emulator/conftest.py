"""Fixtures for the emulator's own tests. Other suites may re-export them the same way."""

from dust_emulator.testing import dust_emulator_process, emulator  # noqa: F401
