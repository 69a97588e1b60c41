"""Residents' photos, voice notes and videos: checked, stored privately, rendered for display."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask
    from flask_smorest import Api


def init_app(app: Flask, api: Api) -> None:
    from core.api import register_api_blueprint
    from core.privacy import register_data_holder
    from core.schedule import register_periodic
    from media import services
    from media.api import blp
    from media.cli import media_cli

    register_api_blueprint(api, blp)
    app.cli.add_command(media_cli)
    register_periodic(app, "media sweep", every_seconds=300)
    register_periodic(app, "media delete-unattached", daily_at="03:30")
    register_data_holder(app, "media", export=services.export_resident_data, forget=services.forget_resident)
