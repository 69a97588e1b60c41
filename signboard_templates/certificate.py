"""The approval certificate as pages: the public verification page and the printable A4 document (PDF via
headless Chromium, as the monthly report is printed), with a QR code that opens the verification page."""

from __future__ import annotations

import base64

import segno
from flask import Response, current_app, render_template
from markupsafe import Markup

from core import pdf, pdf_fonts
from core.config import current_settings
from core.db import utcnow
from core.errors import UpstreamUnavailable
from signboard_templates import services
from signboard_templates.models import SignboardApplication
from signboard_templates.schemas import certificate_url
from signboard_templates.settings import SignboardSettings


def certificate_of(application: SignboardApplication) -> services.Certificate:
    settings = current_settings(SignboardSettings)
    return services.certificate_of(application, issuer=settings.signboard_certificate_issuer,
                                   valid_days=settings.signboard_certificate_valid_days)


def design_image(application: SignboardApplication) -> str:
    """The approved design as a data URL: the printed page loads nothing from the server."""
    return "data:image/png;base64," + base64.b64encode(services.approved_design_png(application)).decode()


def qr_svg(url: str) -> Markup:
    """The QR code of ``url`` as inline SVG: vector, sharp when printed. Error correction M (15 %)."""
    code = segno.make(url, error="m", micro=False)
    return Markup(code.svg_inline(border=4, dark="#000", light="#fff", omitsize=True))


def certificate_html(application: SignboardApplication) -> str:
    certificate = certificate_of(application)
    # The public page that says whether the certificate is valid.
    link = certificate_url(certificate.number)
    return render_template("signboard_templates/certificate_print.html", certificate=certificate,
                           design=design_image(application), verify_url=link, qr=qr_svg(link),
                           font_family=pdf_fonts.FONT_FAMILY)


def certificate_pdf(application: SignboardApplication) -> bytes:
    """The certificate on A4, in Noto Sans CJK with the mainland glyph forms (raises ``pdf.PdfFailed``)."""
    return pdf.print_pdf(certificate_html(application), current_settings(SignboardSettings).signboard_chromium)


def certificate_response(application: SignboardApplication) -> Response:
    """The certificate as a PDF download, for the merchant (API) and the reviewer (admin) alike."""
    try:
        document = certificate_pdf(application)
    except pdf.PdfFailed as exc:
        current_app.logger.error("signboard certificate PDF failed", extra={"reason": str(exc)})
        raise UpstreamUnavailable("核准证明暂时无法生成，请稍后再试。", code="pdf_failed") from exc
    name = f"signboard-certificate-{application.certificate_number}.pdf"
    return Response(document, mimetype="application/pdf", headers={"Content-Disposition": f"inline; filename={name}"})


def valid_today(certificate: services.Certificate) -> bool:
    return certificate.valid_on(utcnow().astimezone(services.SHANGHAI).date())
