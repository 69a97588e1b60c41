"""Signboard settings: the city's rule file, and what the approval certificate says and how it is printed."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from core.config import Config
from core.config_values import integer_setting, path_setting, settings_repr


@dataclasses.dataclass(frozen=True)
class SignboardSettings:
    # A city's own signboard rule file; unset: the rules shipped in signboard_templates/data.
    signboard_rules_file: Path | None = None
    # The department that issues the certificate (its name is printed on it as the issuer).
    signboard_certificate_issuer: str = "青岛市城市管理局"
    # How long a certificate is valid from the day of approval.
    signboard_certificate_valid_days: int = 730
    # The headless Chromium that prints certificates to PDF.
    signboard_chromium: str = "chromium"

    __repr__ = settings_repr

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SignboardSettings:
        return cls(
            signboard_rules_file=path_setting(env, "SIGNBOARD_RULES_FILE"),
            signboard_certificate_issuer=(env.get("SIGNBOARD_CERTIFICATE_ISSUER") or "").strip()
            or cls.signboard_certificate_issuer,
            signboard_certificate_valid_days=integer_setting(env, cls, "signboard_certificate_valid_days",
                                                             maximum=3650),
            signboard_chromium=env.get("SIGNBOARD_CHROMIUM") or cls.signboard_chromium,
        )

    def problems(self, *, production: bool, shared: Config) -> list[str]:
        return []


SETTINGS = SignboardSettings
