"""The dashboard and the monthly report: the same figures on both, the report as HTML and as a PDF."""

from __future__ import annotations

import base64
import datetime as dt
import io
import re
import shutil
import subprocess

import pytest
from fontTools.ttLib import TTFont
from PIL import Image

from citizen.models import Report
from core.db import db
from core.geo import wgs84_to_gcj02
from core import pdf_fonts
from insight import charts, services
from insight.services import periods
from insight.settings import InsightSettings
from tests.core.admin_helpers import admin_login
from tests.common.factories import StaffFactory
from tests.insight.helpers import local, make_campaign_row, make_delivery, make_report, make_reward, seed_october

SUMMARY = re.compile(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>")
CHANGE_ROW = re.compile(r'<tr><th scope="row">([^<]+)</th><td class="num">([^<]+)</td>')
TABLE_ROW = re.compile(r'<tr><th scope="row">([^<]+)</th>(.*?)</tr>', re.S)
CELL = re.compile(r'<td class="num">([^<]*)</td>')


def table(page: str, table_id: str) -> dict[str, list[str]]:
    """A table's rows by their heading: the cells' text."""
    html = page[page.index(f'<table id="{table_id}">'):]
    return {name: CELL.findall(cells) for name, cells in TABLE_ROW.findall(html[:html.index("</table>")])}


@pytest.fixture
def signed_in(app, client):
    with app.app_context():
        StaffFactory(username="insight_viewer", roles=["moderator"])
    admin_login(client, "insight_viewer")
    return client


def _seed_recent_and_pin_today(monkeypatch, app) -> None:
    """Reports on 5–25 October; "today" is 31 October, so the last 30 days hold all of October's figures."""
    monkeypatch.setattr(periods, "today", lambda: dt.date(2026, 10, 31))
    with app.app_context():
        for day, status, hours, rating in [(5, "closed", 5, 5), (6, "closed", 40, 3), (9, "closed", 100, 4),
                                           (12, "rejected", None, None), (20, "accepted", None, None),
                                           (25, "pending_review", None, None)]:
            make_report(local(2026, 10, day), status=status, closed_after_hours=hours, rating=rating,
                        rated_at=local(2026, 10, day + 4) if rating else None, offset_m=day * 600)
        for day, delivery_status in [(5, "done"), (6, "done"), (9, "failed"), (20, "pending"), (21, "retrying")]:
            make_delivery(local(2026, 10, day, 9), delivery_status)
        campaign = make_campaign_row("金秋随手拍", dt.date(2026, 10, 1), dt.date(2026, 12, 31), budget_fen=100_000)
        make_reward(campaign, local(2026, 10, 5, 9), resident_id=1, amount_fen=1000, paid_at=local(2026, 10, 6))
        make_reward(campaign, local(2026, 10, 6, 9), resident_id=2, amount_fen=500, paid_at=local(2026, 10, 7))
        make_reward(campaign, local(2026, 10, 9, 9), resident_id=1, amount_fen=500)
        make_reward(campaign, local(2026, 10, 20, 9), resident_id=3)
        services.rebuild(app.config["APP_SETTINGS"].area(InsightSettings))
        db.session.commit()


def test_the_dashboard_and_the_monthly_report_show_the_same_figures(app, signed_in, monkeypatch):
    _seed_recent_and_pin_today(monkeypatch, app)
    dashboard = signed_in.get("/admin/insight").get_data(as_text=True)
    recent = dashboard[dashboard.index('id="recent-title"'):]
    shown = dict(SUMMARY.findall(recent[:recent.index("</dl>")]))
    monthly = signed_in.get("/admin/insight/monthly?month=2026-10&format=html").get_data(as_text=True)
    in_report = dict(CHANGE_ROW.findall(monthly))
    assert shown["反映总数"] == in_report["反映总数"] == "6"
    assert shown["受理率"] == in_report["受理率"] == "80.0%"
    assert shown["结案数"] == in_report["结案数"] == "3"
    assert shown["结案用时中位数"] == in_report["结案用时中位数"] == "40 小时"
    assert shown["结案用时 90 分位"] == in_report["结案用时 90 分位"] == "100 小时"
    assert shown["按时处置率（72 小时内）"] == in_report["按时处置率（72 小时内）"] == "66.7%"
    assert shown["市民满意度（平均评分）"] == f"{in_report['市民平均评分']} / 5" == "4.00 / 5"
    # Forwarding: columns today, 30 days, all on the dashboard; this month, last month, all in the report.
    forwarding, forwarding_in_report = table(dashboard, "forwarding-recent"), table(monthly, "forwarding-month")
    assert {name: cells[1:] for name, cells in forwarding.items()} == {
        name: cells[::2] for name, cells in forwarding_in_report.items()} == {
        "待发送": ["1", "1"], "发送中": ["0", "0"], "等待重试": ["1", "1"], "失败": ["1", "1"]}
    # The campaign bulletin, one column per campaign.
    assert table(dashboard, "rewards-recent") == table(monthly, "rewards-month") == {
        "参与反映（件）": ["4"], "发放奖励（笔）": ["3"], "发放金额（元）": ["20.00"], "到账（笔）": ["2"],
        "到账金额（元）": ["15.00"], "到账市民（人）": ["2"], "预算（元）": ["1000.00"], "累计已用（元）": ["20.00"],
        "预算使用率": ["2.0%"], "累计到账（元）": ["15.00"]}
    backlog = dict(SUMMARY.findall(dashboard[dashboard.index('id="forwarding-backlog"'):]))
    assert backlog["待转办（含发送中、等待重试）"] == "2" and backlog["转办失败，待人工重试"] == "1"


def test_the_dashboard_has_every_chart_with_its_table_and_filters_hot_spots(app, signed_in, monkeypatch):
    _seed_recent_and_pin_today(monkeypatch, app)
    page = signed_in.get("/admin/insight").get_data(as_text=True)
    for slug in ("recent-daily", "recent-status", "recent-category", "recent-district", "recent-close", "hot-spots"):
        figure = page[page.index(f'id="chart-{slug}"'):]
        figure = figure[:figure.index("</figure>")]
        assert "<svg" in figure and 'role="img"' in figure and '<table class="numbers">' in figure
    assert "门头招牌申请" in page and "<script" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from another site
    only_old = signed_in.get("/admin/insight?days=1&category=S0102").get_data(as_text=True)
    hot = only_old[only_old.index('id="chart-hot-spots"'):]
    assert "暂无数据" in hot[:hot.index("</figure>")]


@pytest.mark.parametrize(("today", "offered"), [(dt.date(2026, 10, 31), "2026-09"), (dt.date(2026, 11, 1), "2026-10"),
                                                (dt.date(2027, 1, 15), "2026-12")])
def test_the_monthly_report_form_offers_the_last_whole_month(signed_in, monkeypatch, today, offered):
    monkeypatch.setattr(periods, "today", lambda: today)
    page = signed_in.get("/admin/insight").get_data(as_text=True)
    assert f'<input type="month" name="month" value="{offered}" required>' in page


def test_the_dashboard_needs_a_signed_in_staff_member(client):
    assert client.get("/admin/insight").status_code == 302
    assert client.get("/admin/insight/monthly?month=2026-10").status_code == 302


def test_a_bad_month_is_refused(signed_in):
    assert signed_in.get("/admin/insight/monthly?month=2026-13").status_code == 400
    assert signed_in.get("/admin/insight/monthly?month=2026-10&district=北京").status_code == 400
    # Year 1's first instants in Beijing time are before year 1 in UTC: they cannot be stored or compared.
    assert signed_in.get("/admin/insight/monthly?month=0001-01").status_code == 400
    assert signed_in.get("/admin/insight/monthly?month=0001-02").status_code == 400
    for bad in ("2026-+1", "2026-%201", "2026-%EF%BC%91", "2026-_1", "9999-12"):
        assert signed_in.get(f"/admin/insight/monthly?month={bad}").status_code == 400, bad


def test_the_heat_scale_and_an_empty_map():
    assert charts.heat_colour(1, 1) == charts.HEAT[-1]
    assert charts.heat_colour(1, 1000) == charts.HEAT[0] and charts.heat_colour(1000, 1000) == charts.HEAT[-1]
    empty = charts.grid_map("m", "空", services.HotSpotGrid(500, {}), outline=[(36, 120), (36.5, 120), (36.5, 121)],
                            places=[])
    assert empty.rows == [] and "<polygon" in empty.svg


def test_the_hot_spot_table_gives_each_cell_centre_in_both_datums(app):
    grid = services.HotSpotGrid(500, {services.cell_of(36.0671, 120.3826, 500): 3})
    with app.app_context():
        chart = charts.grid_map("m", "热点", grid, outline=[(36, 120), (36.5, 120), (36.5, 121)], places=[])
        (spot,) = grid.top(1)
    gcj_lat, gcj_lng = wgs84_to_gcj02(spot.lat, spot.lng)
    assert chart.headers[1:3] == ("网格中心 WGS-84（纬度, 经度）", "网格中心 GCJ-02（纬度, 经度）")
    assert chart.rows == [("1", f"{spot.lat:.4f}, {spot.lng:.4f}", f"{gcj_lat:.4f}, {gcj_lng:.4f}", "市南区", "3")]


def _heat_layer_and_labels(chart: charts.Chart) -> tuple[Image.Image, list[tuple[float, float]]]:
    """The map's PNG layer, and where the ranked cells' labels stand (chart units, in rank order)."""
    png = re.search(r'href="data:image/png;base64,([^"]+)"', chart.svg).group(1)
    labels = re.findall(r'<text x="([\d.]+)" y="([\d.]+)" text-anchor="middle" font-weight="bold"', chart.svg)
    return Image.open(io.BytesIO(base64.b64decode(png))).convert("RGB"), [(float(x), float(y) - 4) for x, y in labels]


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.mark.parametrize("grid_m", [500, 20])  # cells of several pixels; cells far smaller than a pixel
def test_the_hot_spot_map_colours_each_cell_where_it_lies(grid_m):
    counts = {(36.07, 120.38): 100, (36.30, 120.50): 10, (35.90, 120.10): 1}
    grid = services.HotSpotGrid(grid_m, {services.cell_of(lat, lng, grid_m): count
                                         for (lat, lng), count in counts.items()})
    chart = charts.grid_map("m", "m", grid, outline=[(35.8, 120.0), (36.4, 120.0), (36.4, 120.6)], places=[])
    layer, labels = _heat_layer_and_labels(chart)
    for (x, y), count in zip(labels, sorted(counts.values(), reverse=True), strict=True):
        assert layer.getpixel((round(x * 2), round(y * 2))) == _rgb(charts.heat_colour(count, 100))
    coloured = {rgb for _, rgb in layer.getcolors(1 << 20)} - {(0, 0, 0)}
    assert coloured == {_rgb(charts.heat_colour(count, 100)) for count in counts.values()}


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils is not installed (make test installs it)")
def test_the_monthly_command_writes_html_and_a_pdf_whose_pages_show_the_charts(app, app_ctx, tmp_path):
    seed_october()
    services.rebuild(app.config["APP_SETTINGS"].area(InsightSettings))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["insight", "monthly", "--month", "2026-10", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    html = (tmp_path / "insight-2026-10.html").read_text(encoding="utf-8")
    assert "青岛市城市管理月度分析报告" in html and html.count("<svg") == 6
    pdf = tmp_path / "insight-2026-10.pdf"
    assert pdf.read_bytes().startswith(b"%PDF")

    fonts = [line.split() for line in
             subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]]
    # Real CID fonts, subsetted and embedded, every one Noto Sans CJK: no Type 3 (poor selection and search), and
    # none from a fallback font (Liberation, DejaVu), which would draw the Chinese as empty boxes.
    assert fonts and all(font[1:3] == ["CID", "TrueType"] and font[-5:-2] == ["yes", "yes", "yes"] for font in fonts)
    assert {font[0].partition("+")[2] for font in fonts} <= {"NotoSansCJKtc-Regular", "NotoSansCJKtc-Bold"}
    # The fonts hold only the glyphs used: the whole report is a small file (each weight alone is 16 MB).
    assert pdf.stat().st_size < 450_000
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    for heading in ("月度分析报告", "每日反映量", "问题热点网格", "各区（市）综合评价", "市南区", "转办情况",
                    "有奖随手拍活动简报"):
        assert heading in text
    # The data tables are printed open: a day the chart leaves unlabelled (it labels every fifth) is on paper.
    assert re.search(r"10-02\s+1\n", text) and re.search(r"10-04\s+0\n", text) and "数据表" not in text
    # The first page is the summary: the key figures beside last month and last year, the top issues, the districts.
    first_page = subprocess.run(["pdftotext", "-layout", "-f", "1", "-l", "1", str(pdf), "-"], capture_output=True,
                                text=True, check=True).stdout
    for part in ("本月概要", "环比变化", "去年同月", "同比变化", "反映最多的问题", "暴露垃圾", "各区（市）表现",
                 "数据不足、未排名"):
        assert part in first_page, part
    assert "一、反映趋势与构成" not in first_page

    subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / "page")], check=True)
    pages = sorted(tmp_path.glob("page-*.png"))
    assert pages
    colours = set()
    for path in pages:
        with Image.open(path) as image:
            colours |= {rgb for _, rgb in image.convert("RGB").getcolors(1 << 20)}
    # The charts' colours, and the sea off the districts on the map.
    for chart_colour in (charts.PALETTE[0], charts.PALETTE[1], charts.HEAT[-1], charts.SEA):
        wanted = tuple(int(chart_colour[i:i + 2], 16) for i in (1, 3, 5))
        assert any(sum(abs(a - b) for a, b in zip(rgb, wanted, strict=True)) < 12 for rgb in colours), chart_colour


def test_the_monthly_command_refuses_a_bad_month(app):
    result = app.test_cli_runner().invoke(args=["insight", "monthly", "--month", "October"])
    assert result.exit_code != 0 and "YYYY-MM" in result.output


def test_the_monthly_command_names_an_output_directory_it_cannot_write(app, tmp_path):
    """INSIGHT_OUTPUT_DIR (or --out) under a file: a traceback of mkdir before, a message naming the directory now."""
    (tmp_path / "reports").write_text("not a directory", encoding="utf-8")
    out = tmp_path / "reports" / "2026"
    result = app.test_cli_runner().invoke(args=["insight", "monthly", "--month", "2026-10", "--out", str(out)])
    assert result.exit_code == 1 and f"cannot write the report to {out}" in result.output
    assert isinstance(result.exception, SystemExit)


def test_the_rebuild_command_counts_every_report(app, app_ctx):
    make_report(local(2026, 10, 5))
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["insight", "rebuild"])
    assert result.exit_code == 0 and f"counted {db.session.query(Report).count()} reports" in result.output


def _ranking_rows(page: str) -> list[list[str]]:
    html = page[page.index('<table id="district-ranking">'):]
    html = html[:html.index("</table>")]
    return [re.findall(r"<t[dh][^>]*>([^<]*)</t[dh]>", row) for row in re.findall(r"<tr>(.*?)</tr>", html)][1:]


def test_the_ranking_shows_missing_as_missing_and_names_districts_with_too_little_data(app, signed_in,
                                                                                         override_settings):
    """Before: 市北区's missing rating counted as 0 and the eight districts without data were ranked 3–10 at 0.0."""
    with app.app_context():
        seed_october()
        services.rebuild(app.config["APP_SETTINGS"].area(InsightSettings))
        db.session.commit()
    override_settings(insight_ranking_min_sample=2)
    page = signed_in.get("/admin/insight/monthly?month=2026-10").get_data(as_text=True)
    rows = {row[1]: row for row in _ranking_rows(page)}
    # 市南区 (3 closed, 2 ratings) is ranked; 市北区 (1 closed) and the districts with nothing are not, and show "—".
    assert rows["市南区"][0] == "1" and rows["市南区"][-1] != "—"
    assert rows["市北区"] == ["—", "市北区", "1", "80 小时", "1", "2.00", "—"]
    assert rows["平度市"] == ["—", "平度市", "0", "—", "0", "—", "—"]
    assert [row[0] for row in _ranking_rows(page)] == ["1"] + ["—"] * 9
    too_little = page[page.index('id="too-little-data"'):]
    assert "结案少于 2 件" in too_little and "市北区（1 件）" in too_little[:too_little.index("</p>")]
    override_settings(insight_ranking_min_sample=3)  # 市南区 ranked, its 2 ratings too few to count
    rows = {row[1]: row for row in _ranking_rows(signed_in.get("/admin/insight/monthly?month=2026-10").get_data(
        as_text=True))}
    assert rows["市南区"][0] == "1" and rows["市南区"][5] == "4.50（不计分）" and rows["市南区"][6] == "100.0"


def test_each_key_figure_beside_last_month_and_the_same_month_last_year(app, signed_in):
    with app.app_context():
        seed_october()
        make_report(local(2025, 10, 8), status="closed", closed_after_hours=20, rating=3, rated_at=local(2025, 10, 9))
        make_report(local(2025, 10, 9), status="rejected")
        services.rebuild(app.config["APP_SETTINGS"].area(InsightSettings))
        db.session.commit()
    page = signed_in.get("/admin/insight/monthly?month=2026-10").get_data(as_text=True)
    html = page[page.index('<table class="change" id="key-figures">'):]
    cells = {name: re.findall(r"<td[^>]*>([^<]*)</td>", row) for name, row in TABLE_ROW.findall(
        html[:html.index("</table>")])}
    # This month | last month | change | the same month last year | change.
    assert cells["反映总数"] == ["8", "2", "+6（+300.0%）", "2", "+6（+300.0%）"]
    assert cells["结案数"] == ["4", "0", "+4（—）", "1", "+3（+300.0%）"]  # no per cent on a base of 0
    assert cells["结案用时中位数"] == ["30 小时", "—", "—（—）", "20 小时", "+10 小时（+50.0%）"]
    assert cells["受理率"][3:] == ["50.0%", "+21.4 个百分点（+42.9%）"]
    assert cells["市民平均评分"][3:] == ["3.00", "+0.67（+22.2%）"]
    # Better and worse by the figure's sense: more closed is better, slower closing worse.
    assert 'class="num better">+3（+300.0%）' in html and 'class="num worse">+10 小时（+50.0%）' in html


def test_a_change_without_a_base_is_a_dash():
    assert services.Change.of(5, 0) == services.Change(5, None)
    assert services.Change.of(None, 3) == services.Change.of(3, None) == services.Change(None, None)
    fewer = services.Change.of(3, 4)
    assert fewer.direction("up") == "worse" and fewer.direction("down") == "better" and fewer.direction(None) is None
    assert services.Change.of(4, 4).direction("up") is None


def test_the_pdf_fonts_hold_the_pages_characters_with_truetype_outlines(tmp_path):
    """Chromium embeds TrueType-outlined fonts as CID fonts, CFF-outlined ones (Noto's .otf) as Type 3."""
    pdf_fonts.subset_font.cache_clear()
    paths = pdf_fonts.write_subsets("月度分析报告 市南区 2026", tmp_path / "fonts")
    assert len(paths) == 2
    for path in paths:
        font = TTFont(path)
        assert "glyf" in font and "CFF " not in font and font.sfntVersion == "\0\1\0\0"
        assert set("月度分析报告市南区2026") <= {chr(code) for code in font.getBestCmap()}
        assert len(font.getGlyphOrder()) < 100 and path.stat().st_size < 40_000
    pdf_fonts.write_subsets("市南区 2026 月度分析报告", tmp_path / "again")  # the same characters: cut once
    assert pdf_fonts.subset_font.cache_info().hits == 2
