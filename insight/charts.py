"""Charts drawn on the server as SVG, each with the numbers behind it for a table beside it.

One definition serves the dashboard and the monthly report (HTML and PDF alike): no script, no CDN.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import math
from collections.abc import Callable, Sequence

from markupsafe import Markup, escape
from PIL import Image, ImageFilter

from core.geo import wgs84_to_gcj02
from core.districts import District, simplify
from insight.services import HotSpotGrid, grid_steps

PALETTE = ("#1f5fa8", "#3d8fd1", "#6fb1e4", "#e08a2e", "#c0392b")
HEAT = ("#fde7c8", "#fbbf77", "#f28c38", "#d9531e", "#a11d12")
SEA, LAND, BOUNDARY = "#e3edf5", "#fbfbf7", "#7f93a8"
FONT = ("font-family=\"'Noto Sans CJK SC','Noto Sans CJK TC','Source Han Sans SC','PingFang SC','Microsoft YaHei',"
        "sans-serif\"")


@dataclasses.dataclass(frozen=True)
class Chart:
    """An SVG chart and its numbers: ``headers`` name the columns of ``rows``."""

    slug: str
    title: str
    svg: Markup
    headers: tuple[str, ...]
    rows: list[tuple[str, ...]]


def _svg(slug: str, title: str, width: int, height: int, body: Sequence[str]) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-labelledby="chart-{slug}-title" {FONT} font-size="12">'
        f'<title id="chart-{slug}-title">{escape(title)}</title>{"".join(body)}</svg>')


def _nice_ceiling(value: int) -> int:
    if value <= 5:
        return 5
    magnitude = 10 ** int(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def bar_chart(slug: str, title: str, rows: Sequence[tuple[str, int]], *, unit: str = "件",
              label_width: int = 110) -> Chart:
    """Horizontal bars, largest first as given."""
    width, bar_height, gap, top = 560, 18, 6, 8
    height = top * 2 + max(1, len(rows)) * (bar_height + gap)
    scale = (width - label_width - 60) / _nice_ceiling(max((value for _, value in rows), default=0))
    body = []
    for index, (label, value) in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = value * scale
        body.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{PALETTE[0]}"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 13}">{value}</text>')
    if not rows:
        body.append(f'<text x="{width / 2}" y="{top + 13}" text-anchor="middle" fill="#666">暂无数据</text>')
    return Chart(slug, title, _svg(slug, title, width, height, body), ("项目", f"数量（{unit}）"),
                 [(label, str(value)) for label, value in rows])


def column_chart(slug: str, title: str, rows: Sequence[tuple[str, int]], *, unit: str = "件",
                 label_every: int = 5) -> Chart:
    """Vertical columns in order (a series over days), with every ``label_every``-th label shown."""
    width, height, left, bottom, top = 560, 200, 40, 30, 10
    ceiling = _nice_ceiling(max((value for _, value in rows), default=0))
    plot_height = height - top - bottom
    step = (width - left - 10) / max(1, len(rows))
    body = [f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#999"/>']
    for tick in (0, ceiling // 2, ceiling):
        y = height - bottom - plot_height * tick / ceiling
        body.append(f'<text x="{left - 4}" y="{y + 4:.1f}" text-anchor="end" fill="#666">{tick}</text>'
                    f'<line x1="{left}" y1="{y:.1f}" x2="{width - 10}" y2="{y:.1f}" stroke="#eee"/>')
    for index, (label, value) in enumerate(rows):
        x = left + index * step
        column = plot_height * value / ceiling
        body.append(f'<rect x="{x + step * 0.15:.1f}" y="{height - bottom - column:.1f}" width="{step * 0.7:.1f}" '
                    f'height="{column:.1f}" fill="{PALETTE[1]}"/>')
        if index % label_every == 0:
            body.append(f'<text x="{x + step / 2:.1f}" y="{height - bottom + 16}" text-anchor="middle" '
                        f'fill="#444">{escape(label)}</text>')
    return Chart(slug, title, _svg(slug, title, width, height, body), ("项目", f"数量（{unit}）"),
                 [(label, str(value)) for label, value in rows])


def heat_step(count: int, most: int) -> int:
    """Five steps (0–4) on a logarithmic scale from 1 to the busiest cell."""
    if most <= 1:
        return len(HEAT) - 1
    return min(len(HEAT) - 1, int(len(HEAT) * math.log(count) / math.log(most)))


def heat_colour(count: int, most: int) -> str:
    return HEAT[heat_step(count, most)]


def _heat_layer(cells: Sequence[tuple[int, int, int]], most: int, grid_m: int,
                view: tuple[float, float, float, float], width: int, height: int) -> str:
    """The coloured cells as one PNG image in the SVG: a city's thousands of cells stay one element.

    Drawn at twice the chart's size, each cell at least 3 pixels (1.5 chart units) across. The cells are laid
    out a pixel each, then mapped onto the chart in one transform (no drawing call per cell); where cells come
    out smaller than a pixel, or than 3 pixels, the hottest one nearby shows.
    """
    scale = 2
    south, north, west, east = view
    lat_step, lng_step = grid_steps(grid_m)
    # Pixels per cell, and where cell (0, 0) would lie.
    across, down = lng_step / (east - west) * width * scale, lat_step / (north - south) * height * scale
    left0, top0 = -west / (east - west) * width * scale, north / (north - south) * height * scale
    first_row, last_row = min(row for row, _, _ in cells), max(row for row, _, _ in cells)
    first_col, last_col = min(col for _, col, _ in cells), max(col for _, col, _ in cells)
    columns = last_col - first_col + 1
    steps: dict[int, int] = {}
    laid_out = bytearray(columns * (last_row - first_row + 1))
    for row, col, count in cells:
        if count not in steps:
            steps[count] = 1 + heat_step(count, most)
        laid_out[(last_row - row) * columns + col - first_col] = steps[count]  # north up
    grid = Image.frombytes("L", (columns, last_row - first_row + 1), bytes(laid_out))
    smallest = min(across, down)
    if smallest < 1:  # a pixel spans several cells: the hottest of those around its middle gets through
        grid = grid.filter(ImageFilter.MaxFilter(2 * math.ceil(0.5 / smallest) + 1))
    # Each pixel of the layer takes the cell under its middle: pixel (x, y) ↦ (x / across − …, y / down − …).
    grid_top = top0 - (last_row + 1) * down
    layer = grid.transform((width * scale, height * scale), Image.Transform.AFFINE,
                           (1 / across, 0, -left0 / across - first_col, 0, 1 / down, -grid_top / down),
                           resample=Image.Resampling.NEAREST, fillcolor=0)
    if smallest < 3:
        layer = layer.filter(ImageFilter.MaxFilter(3))
    image = Image.frombytes("P", layer.size, layer.tobytes())
    image.putpalette([0, 0, 0] + [int(colour[i:i + 2], 16) for colour in HEAT for i in (1, 3, 5)])
    png = io.BytesIO()
    image.save(png, "PNG", transparency=0)
    return (f'<image x="0" y="0" width="{width}" height="{height}" preserveAspectRatio="none" '
            f'href="data:image/png;base64,{base64.b64encode(png.getvalue()).decode()}"/>')


def _district_layer(districts: Sequence[District], view: tuple[float, float, float, float], height: int,
                    x: Callable[[float], float], y: Callable[[float], float]) -> list[str]:
    """The districts in view as land with their boundaries, each ring simplified to half a pixel."""
    south, north, west, east = view
    tolerance = (north - south) / height / 2
    body = []
    for district in districts:
        d_south, d_north, d_west, d_east = district.bounds
        if d_north < south or d_south > north or d_east < west or d_west > east:
            continue
        rings = [simplify(ring, tolerance) for ring in district.rings]
        path = " ".join("M" + " ".join(f"{x(lng):.1f},{y(lat):.1f}" for lng, lat in ring) + "Z"
                        for ring in rings if len(ring) >= 3)
        body.append(f'<path class="district" d="{path}" fill="{LAND}" fill-rule="evenodd" stroke="{BOUNDARY}" '
                    f'stroke-width="0.8" stroke-linejoin="round"/>')
    return body


def grid_map(slug: str, title: str, grid: HotSpotGrid, *, outline: Sequence[tuple[float, float]],
             places: Sequence[tuple[str, float, float]], districts: Sequence[District] = (),
             top: int = 10) -> Chart:
    """The cells with reports, coloured by count, over the districts' boundaries, the service area's outline
    (dashed) and the district seats; each district in view is labelled, at its seat or else at its middle.

    The view fits the cells with reports (or the whole outline when there are none); north is up.
    """
    lat_step, lng_step = grid_steps(grid.grid_m)
    cells = []
    for cell, count in grid.cells.items():
        row, _, col = cell.partition(":")
        cells.append((int(row), int(col), count))
    if cells:
        rows, cols = [row for row, _, _ in cells], [col for _, col, _ in cells]
        lats = [min(rows) * lat_step, (max(rows) + 1) * lat_step]
        lngs = [min(cols) * lng_step, (max(cols) + 1) * lng_step]
    else:
        lats, lngs = [lat for lat, _ in outline], [lng for _, lng in outline]
    pad_lat, pad_lng = (max(lats) - min(lats)) * 0.08 + lat_step, (max(lngs) - min(lngs)) * 0.08 + lng_step
    south, north, west, east = min(lats) - pad_lat, max(lats) + pad_lat, min(lngs) - pad_lng, max(lngs) + pad_lng
    width = 560
    # Equal metres in both directions: a degree of longitude is cos(lat) of a degree of latitude.
    aspect = (north - south) / ((east - west) * math.cos(math.radians((north + south) / 2)))
    height = max(200, min(700, round(width * aspect)))

    def x(lng: float) -> float:
        return (lng - west) / (east - west) * width

    def y(lat: float) -> float:
        return (north - lat) / (north - south) * height

    def in_view(lat: float, lng: float) -> bool:
        return south <= lat <= north and west <= lng <= east

    most = max((count for _, _, count in cells), default=0)
    points = " ".join(f"{x(lng):.1f},{y(lat):.1f}" for lat, lng in outline)
    # Over the districts the service area is a dashed line; without them, the white land itself.
    area = 'fill="none" stroke-dasharray="4 3"' if districts else 'fill="#fff"'
    body = [f'<rect width="{width}" height="{height}" fill="{SEA if districts else "#f4f7fa"}"/>',
            *_district_layer(districts, (south, north, west, east), height, x, y),
            f'<polygon points="{points}" {area} stroke="#8aa" stroke-width="1"/>']
    if cells:
        body.append(_heat_layer(cells, most, grid.grid_m, (south, north, west, east), width, height))
    seats = {name for name, lat, lng in places if in_view(lat, lng)}
    for name, lat, lng in places:
        if in_view(lat, lng):
            body.append(f'<circle cx="{x(lng):.1f}" cy="{y(lat):.1f}" r="3" fill="#234"/>'
                        f'<text x="{x(lng) + 5:.1f}" y="{y(lat) - 4:.1f}" fill="#234">{escape(name)}</text>')
    for district in districts:
        lng, lat = district.label_point()
        if district.name not in seats and in_view(lat, lng):
            body.append(f'<text x="{x(lng):.1f}" y="{y(lat):.1f}" text-anchor="middle" fill="#567">'
                        f'{escape(district.name)}</text>')
    spots = grid.top(top)
    for rank, spot in enumerate(spots, start=1):
        body.append(f'<text x="{x(spot.lng):.1f}" y="{y(spot.lat) + 4:.1f}" text-anchor="middle" font-weight="bold" '
                    f'fill="#000">{rank}</text>')
    legend = f"网格 {grid.grid_m} 米 · 最多 {most} 件/格" + (" · 细线为区（市）界，虚线为受理范围" if districts else "")
    body.append(f'<text x="6" y="{height - 6}" fill="#555">{legend}</text>')
    # Both datums: staff look hot spots up on Chinese maps (AMap, Tencent), which take GCJ-02.
    rows = []
    for rank, spot in enumerate(spots, start=1):
        gcj_lat, gcj_lng = wgs84_to_gcj02(spot.lat, spot.lng)
        rows.append((str(rank), f"{spot.lat:.4f}, {spot.lng:.4f}", f"{gcj_lat:.4f}, {gcj_lng:.4f}", spot.district,
                     str(spot.count)))
    headings = ("排名", "网格中心 WGS-84（纬度, 经度）", "网格中心 GCJ-02（纬度, 经度）", "所在区（市）", "数量（件）")
    return Chart(slug, title, _svg(slug, title, width, height, body), headings, rows)
