"""The config error type and its check, apart from config.py so that filter modules can define
their own threshold dataclasses without importing the whole config (which imports them)."""

from __future__ import annotations

from gristmill.pipeline.errors import UsageError


class ConfigError(UsageError):
    """A config file or value that cannot be used; the message names the key."""


def check(ok: bool, key: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"config key '{key}': {message}")
