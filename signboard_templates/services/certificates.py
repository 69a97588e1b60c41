"""The approval certificate (门头招牌设置核准证明): what it states, frozen at approval, and whether it is valid."""

from __future__ import annotations

import dataclasses
import datetime as dt
from zoneinfo import ZoneInfo

from core.errors import Conflict
from signboard_templates import rendering
from signboard_templates.models import SignboardApplication
from signboard_templates.rules import MOUNT_POSITIONS
from signboard_templates.services.templates import get_category, get_template

# Certificates are dated as Beijing reads its calendar.
SHANGHAI = ZoneInfo("Asia/Shanghai")


@dataclasses.dataclass(frozen=True)
class Certificate:
    number: str
    application_id: int
    shop_name: str
    licence_name: str
    credit_code: str
    address: str
    template_name: str
    width_m: float
    height_m: float
    thickness_m: float
    mount_position: str
    issuer: str
    issued_on: dt.date
    valid_until: dt.date

    def valid_on(self, day: dt.date) -> bool:
        return self.issued_on <= day <= self.valid_until


def certificate_terms(decided_at: dt.datetime, issuer: str, valid_days: int) -> dict[str, str]:
    """What approval freezes into the approved design: the issuing department and the period of validity."""
    issued_on = decided_at.astimezone(SHANGHAI).date()
    return {"issuer": issuer, "issued_on": issued_on.isoformat(),
            "valid_until": (issued_on + dt.timedelta(days=valid_days - 1)).isoformat()}


def certificate_of(application: SignboardApplication, *, issuer: str, valid_days: int) -> Certificate:
    """The certificate of an approved application. ``issuer`` and ``valid_days`` (the settings) stand in for the
    terms only where an approval made before they were frozen lacks them."""
    if application.status != "approved" or not application.certificate_number or not application.decided_at:
        raise Conflict("该申请尚未批准，没有核准证明。", code="no_certificate")
    design = application.approved_design or {}
    terms = {**certificate_terms(application.decided_at, issuer, valid_days), **design}
    return Certificate(
        number=application.certificate_number, application_id=application.id, shop_name=design["shop_name"],
        licence_name=application.licence_name, credit_code=application.credit_code, address=application.address,
        template_name=design["template_name"], width_m=design["width_m"], height_m=design["height_m"],
        thickness_m=design["thickness_m"],
        mount_position=MOUNT_POSITIONS.get(application.mount_position, application.mount_position),
        issuer=terms["issuer"], issued_on=dt.date.fromisoformat(terms["issued_on"]),
        valid_until=dt.date.fromisoformat(terms["valid_until"]))



def approved_design_png(application: SignboardApplication) -> bytes:
    """The approved design as it was approved: the template's colours frozen then, the name and size approved."""
    design = application.approved_design or {}
    colours = design["colours"]
    template = dataclasses.replace(get_template(design["template_id"]), background=colours["background"],
                                   text_colour=colours["text"], accent=colours["accent"])
    return rendering.png_bytes(rendering.render(template, get_category(template.category), design["shop_name"],
                                                design["width_m"], design["height_m"]))
