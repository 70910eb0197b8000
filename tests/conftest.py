"""Fixtures shared by every suite: `emulator` is a real dust-emulator process (one per session, emptied
before each test); see dust_emulator.testing for its API."""

from dust_emulator.testing import dust_emulator_process, emulator  # noqa: F401
