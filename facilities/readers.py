"""Reading facility files one row at a time: (line number, raw properties), never the whole file in memory."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from typing import IO, Any

from facilities import services

READ_CHUNK = 1 << 20
# A single GeoJSON feature bigger than this is taken for a broken file rather than read on.
_MAX_FEATURE_BYTES = 16 << 20
TEXT_PROPERTIES = ("source_id", "kind", "name", "address", "district", "status", "opening_hours")


class ImportFailed(Exception):
    """The file as a whole cannot be read (as opposed to single rejected rows); the message is shown to staff."""


class CountingReader(io.RawIOBase):
    """A binary file that counts the bytes read from it, for the progress bar."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes_read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[:len(data)] = data
        self.bytes_read += len(data)
        return len(data)


# A row's properties as read; a row the reader could not make sense of carries "__error__": (column, reason).
RawRow = dict[str, Any]


def read_csv(stream: IO[bytes]) -> Iterator[tuple[int, RawRow]]:
    """Rows of a UTF-8 CSV with a header (source_id, kind, name, lat, lng, … see the README)."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.DictReader(text)
    if reader.fieldnames is None:
        return
    line = reader.line_num + 1
    for record in reader:
        raw: RawRow = {key.strip(): value for key, value in record.items() if key is not None}
        if None in record:
            raw["__error__"] = ("", "字段数多于表头")
        attributes = raw.pop("attributes", None)
        try:
            raw["attributes"] = json.loads(attributes) if attributes else {
                name: raw[name] for name in (*services.BOOLEAN_ATTRIBUTES, "genders") if raw.get(name)}
        except ValueError:  # a JSONDecodeError, or an integer beyond Python's digit limit
            raw["__error__"] = ("attributes", "不是有效的 JSON")
        yield line, raw
        line = reader.line_num + 1


def read_geojson(stream: IO[bytes]) -> Iterator[tuple[int, RawRow]]:
    """Point features of a GeoJSON FeatureCollection, decoded one at a time as the file is read."""
    decoder = json.JSONDecoder()
    text = io.TextIOWrapper(stream, encoding="utf-8-sig")
    buffer, position, line, eof = "", 0, 1, False

    def fill() -> bool:
        nonlocal buffer, position, eof
        chunk = text.read(READ_CHUNK)
        eof = not chunk
        buffer = buffer[position:] + chunk
        position = 0
        return bool(chunk)

    def skip(characters: str) -> None:
        nonlocal position, line
        while True:
            while position < len(buffer) and buffer[position] in characters:
                line += buffer[position] == "\n"
                position += 1
            if position < len(buffer) or not fill():
                return

    # Find the "features" array of the top-level object.
    while True:
        found = buffer.find('"features"', position)
        if found >= 0:
            line += buffer.count("\n", position, found)
            position = found + len('"features"')
            skip(" \t\r\n")
            if buffer[position:position + 1] == ":":
                position += 1
                skip(" \t\r\n")
                if buffer[position:position + 1] == "[":
                    position += 1
                    break
            raise ImportFailed(f"第 {line} 行：\"features\" 后面不是数组")
        keep = max(position, len(buffer) - len('"features"'))  # the key may straddle two chunks
        line += buffer.count("\n", position, keep)
        position = keep
        if not fill():
            raise ImportFailed("不是 GeoJSON FeatureCollection：没有 \"features\" 数组")
    while True:
        skip(" \t\r\n,")
        if position >= len(buffer):
            raise ImportFailed(f"第 {line} 行：文件在 \"features\" 数组中途结束")
        if buffer[position] == "]":
            return
        while True:
            try:
                feature, end = decoder.raw_decode(buffer, position)
                break
            except json.JSONDecodeError as exc:
                if eof or len(buffer) - position > _MAX_FEATURE_BYTES:
                    raise ImportFailed(f"第 {line} 行：JSON 格式错误（{exc.msg}）") from None
                fill()
            except ValueError as exc:  # an integer beyond Python's digit limit: no more of the file mends it
                raise ImportFailed(f"第 {line} 行：JSON 格式错误（{exc}）") from None
        yield line, _feature_row(feature)
        line += buffer.count("\n", position, end)
        position = end


def _feature_row(feature: Any) -> RawRow:
    if not isinstance(feature, dict) or feature.get("type") != "Feature":
        return {"__error__": ("", "不是 GeoJSON 要素（Feature）")}
    properties = feature.get("properties") or {}
    if not isinstance(properties, dict):
        return {"__error__": ("properties", "不是对象")}
    raw: RawRow = {name: properties.get(name) for name in TEXT_PROPERTIES}
    if raw["source_id"] is None and feature.get("id") is not None:
        raw["source_id"] = feature["id"]
    raw["attributes"] = properties.get("attributes") if "attributes" in properties else {
        name: properties[name] for name in (*services.BOOLEAN_ATTRIBUTES, "genders") if name in properties}
    geometry = feature.get("geometry") or {}
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(geometry, dict) or geometry.get("type") != "Point" or not isinstance(coordinates, list) \
            or len(coordinates) < 2:
        raw["__error__"] = ("geometry", "不是点（Point）")
    else:
        raw["lng"], raw["lat"] = coordinates[0], coordinates[1]
    return raw


READERS: dict[str, Callable[[IO[bytes]], Iterator[tuple[int, RawRow]]]] = {"csv": read_csv, "geojson": read_geojson}
