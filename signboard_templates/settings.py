"""Signboard settings."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from core.config import Config
from core.config_values import path_setting, settings_repr


@dataclasses.dataclass(frozen=True)
class SignboardSettings:
    # A city's own signboard rule file; unset: the rules shipped in signboard_templates/data.
    signboard_rules_file: Path | None = None

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SignboardSettings:
        return cls(signboard_rules_file=path_setting(env, "SIGNBOARD_RULES_FILE"))

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        return []


SETTINGS = SignboardSettings
