"""The approval certificate: an A4 PDF for the merchant (owner only) and the reviewer, stating the issuing department,
the dates, the approved design and size, and a QR code that opens the public verification page."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess

import pytest
import sqlalchemy as sa
import zxingcpp
from PIL import Image

from core.config_values import ConfigError
from core.db import db
from signboard_templates.models import SignboardApplication
from signboard_templates.services import applications
from signboard_templates.services.certificates import certificate_terms
from signboard_templates.settings import SignboardSettings
from tests.citizen.helpers import upload_photo
from tests.signboard_templates.conftest import application_body
from tests.signboard_templates.test_applications import decide, resident, staff_client

pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None or shutil.which("chromium") is None,
                                reason="chromium and poppler-utils are needed (make browser installs them)")
SHOP = {"shop_name": "青岛湾渔家", "licence_name": "青岛市市北区青岛湾渔家餐饮店", "credit_code": "91440300708461136T",
        "address": "青岛市市北区辽宁路 88 号"}


@pytest.fixture
def approved(app, client, monkeypatch):  # noqa: ANN001, ANN201
    headers, _ = resident(client, "oCertificateMerchant000000001")
    body = application_body(upload_photo(client, headers), **SHOP)
    created = client.post("/api/v1/signboard-applications", json=body, headers=headers).json
    reviewer, token = staff_client(app, ["signboard_reviewer"])
    monkeypatch.setattr(applications, "utcnow", lambda: dt.datetime(2026, 12, 6, 17, 0, tzinfo=dt.timezone.utc))
    assert decide(reviewer, token, created["id"], "approve").status_code == 302
    monkeypatch.undo()
    found = client.get(f"/api/v1/signboard-applications/{created['id']}", headers=headers).json
    return headers, found, reviewer


def _pages(pdf: bytes, tmp_path, resolution: int = 150) -> tuple[str, list[Image.Image]]:  # noqa: ANN001
    path = tmp_path / "certificate.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    subprocess.run(["pdftoppm", "-r", str(resolution), "-png", str(path), str(tmp_path / "page")], check=True)
    pages = []
    for page in sorted(tmp_path.glob("page-*.png")):
        with Image.open(page) as image:
            pages.append(image.convert("RGB"))
    return text, pages


def test_the_merchant_prints_a_one_page_a4_certificate_with_everything_an_official_document_carries(
        app, client, approved, tmp_path):
    headers, application, _ = approved
    response = client.get(f"/api/v1/signboard-applications/{application['id']}/certificate.pdf", headers=headers)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")
    text, pages = _pages(response.data, tmp_path)
    assert len(pages) == 1
    # A4 at 150 dpi: 1240 x 1754 pixels.
    assert pages[0].size == pytest.approx((1240, 1754), abs=3)
    flat = "".join(text.split())
    number = application["certificate_number"]
    for item in ("门头招牌设置核准证明", "青岛市城市管理局", f"证明编号：{number}", f"申请编号：{application['id']}",
                 "青岛市市北区青岛湾渔家餐饮店", "91440300708461136T", "青岛湾渔家", "青岛市市北区辽宁路88号",
                 "宽5.5米×高0.9米×厚0.2米", "发证日期2026年12月7日", "有效期至2028年12月5日", "扫码查验"):
        assert item in flat, item
    assert "catering-01" not in text  # the internal template id is not on the document
    # The QR code, read back from the printed page, opens the public verification page of this certificate.
    codes = zxingcpp.read_barcodes(pages[0])
    assert [code.format for code in codes] == [zxingcpp.BarcodeFormat.QRCode]
    assert codes[0].text == application["certificate_url"]
    assert codes[0].text.endswith(f"/signboard-certificates/{number}")
    fonts = subprocess.run(["pdffonts", str(tmp_path / "certificate.pdf")], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts)  # every font embedded: text, not pictures
    # Real CID fonts, subsetted (core.pdf_fonts), not Type 3 procedures: the text selects and searches.
    assert all("CID TrueType" in line and line.split()[-4] == "yes" for line in fonts)


def test_only_the_owner_gets_the_certificate_and_only_once_approved(app, client, approved):
    headers, application, _ = approved
    url = f"/api/v1/signboard-applications/{application['id']}/certificate.pdf"
    other, _ = resident(client, "oNosyNeighbour00000000000002")
    assert client.get(url, headers=other).status_code == 404
    assert client.get(url).status_code == 401
    pending = client.post("/api/v1/signboard-applications", headers=headers,
                          json=application_body(upload_photo(client, headers), shop_name="第二家店")).json
    refused = client.get(f"/api/v1/signboard-applications/{pending['id']}/certificate.pdf", headers=headers)
    assert refused.status_code == 409 and refused.json["error"]["code"] == "no_certificate"


def test_the_reviewer_prints_the_same_certificate(client, approved, tmp_path):
    _, application, reviewer = approved
    response = reviewer.get(f"/admin/signboards/{application['id']}/certificate.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text, _ = _pages(response.data, tmp_path, 40)
    assert application["certificate_number"] in text and "青岛市城市管理局" in text


def test_the_public_verification_page_says_valid_or_expired_and_shows_no_merchant_identifiers(app, client, approved):
    _, application, _ = approved
    page = client.get(f"/signboard-certificates/{application['certificate_number']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<strong>有效</strong>" in html and "青岛市城市管理局" in html
    assert "青岛湾渔家" in html and "2028-12-05" in html
    assert "91440300708461136T" not in html and "餐饮店" not in html  # no credit code, no licence name
    with app.app_context():
        row = db.session.scalar(sa.select(SignboardApplication).where(SignboardApplication.id == application["id"]))
        row.approved_design = {**row.approved_design, "issued_on": "2023-12-31", "valid_until": "2025-12-31"}
        db.session.commit()
    expired = client.get(f"/signboard-certificates/{application['certificate_number']}").get_data(as_text=True)
    assert "<strong>已过期</strong>" in expired and "2025-12-31" in expired


def test_the_issuer_and_validity_come_from_settings():
    settings = SignboardSettings.from_env({"SIGNBOARD_CERTIFICATE_ISSUER": "青岛市市北区综合行政执法局",
                                           "SIGNBOARD_CERTIFICATE_VALID_DAYS": "365"})
    assert settings.signboard_certificate_issuer == "青岛市市北区综合行政执法局"
    assert settings.signboard_certificate_valid_days == 365
    with pytest.raises(ConfigError, match="SIGNBOARD_CERTIFICATE_VALID_DAYS"):
        SignboardSettings.from_env({"SIGNBOARD_CERTIFICATE_VALID_DAYS": "0"})
    terms = certificate_terms(dt.datetime(2026, 12, 6, 17, 0, tzinfo=dt.timezone.utc), "发证单位", 365)
    assert terms == {"issuer": "发证单位", "issued_on": "2026-12-07", "valid_until": "2027-12-06"}
