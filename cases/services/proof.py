"""Proof before closing: 处置 needs after-photos taken at the site after the case was dispatched.

A handler's photo is held to the checks a resident's evidence gets (``citizen.services.measure_evidence``): taken
within the evidence radius of the report's place, by its EXIF position or, where the photo has none (browsers and
phones often strip it), the position the browser gave when it was uploaded; and taken, by its EXIF time, after
the case was (last) dispatched. A photo failing a check refuses the whole step, naming the check.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from cases.models import DeskCase
from cases.services.notifications import SHANGHAI
from citizen import services as citizen_services
from citizen.settings import CitizenSettings
from core.errors import ValidationFailed
from media import services as media_services

HANDLE_ACTION = "handle"


@dataclasses.dataclass(frozen=True)
class AfterPhoto:
    """A photo the handler took at the site after the work (a media id), and where the browser said it was uploaded
    from ((lat, lng) WGS-84, give or take its accuracy; None when the browser gave no position)."""

    media_id: int
    upload_position: tuple[float, float] | None = None
    upload_accuracy_m: float | None = None  # the browser's own estimate of the position's error


@dataclasses.dataclass(frozen=True)
class AfterPhotos:
    """The photos offered as proof of 处置, and the evidence rules (radius) residents' photos are held to."""

    photos: tuple[AfterPhoto, ...]
    settings: CitizenSettings


@dataclasses.dataclass(frozen=True)
class Proof:
    """The proof a step carries: its photos' media ids, and what was checked of each (kept on the step)."""

    media_ids: tuple[int, ...] = ()
    record: list[dict[str, Any]] = dataclasses.field(default_factory=list)


def required_proof(desk_case: DeskCase, action: str, after_photos: AfterPhotos | None) -> Proof:
    """The checked proof of a 处置 step (no other step needs or keeps any): at least one after-photo, each taken
    near the report's place after the case was dispatched; else ValidationFailed naming the photo and the check."""
    if action != HANDLE_ACTION:
        return Proof()
    if after_photos is None or not after_photos.photos:
        raise ValidationFailed("处置需要上传至少一张在现场拍摄的处置后照片。", code="proof_required")
    report = citizen_services.get_report(desk_case.report_id)
    dispatched_at = last_dispatched_at(desk_case)
    record = [_checked(report, photo, dispatched_at, after_photos.settings,
                       "处置照片" if len(after_photos.photos) == 1 else f"第 {number} 张处置照片")
              for number, photo in enumerate(after_photos.photos, start=1)]
    return Proof(tuple(entry["media_id"] for entry in record), record)


def last_dispatched_at(desk_case: DeskCase) -> dt.datetime:
    """When the case last went to be handled: its 派遣, or a return to 处置 (退回 after 核查, a resident's 返工)."""
    return next(step.occurred_at for step in reversed(desk_case.steps) if step.step == "dispatched")


def _checked(report: Any, photo: AfterPhoto, dispatched_at: dt.datetime, settings: CitizenSettings,
             name: str) -> dict[str, Any]:
    info = media_services.media_info(photo.media_id)
    if info.kind != "photo":
        raise ValidationFailed(f"{name}不是图片，请上传照片。", code="proof_not_photo",
                               details={"media_id": info.id, "kind": info.kind})
    position, source = (info.gps, "exif") if info.gps is not None else (photo.upload_position, "upload")
    # EXIF times have whole seconds: a photo taken in the second of the dispatch counts as after it.
    evidence = citizen_services.measure_evidence(report, position, info.taken_at,
                                                 dispatched_at.replace(microsecond=0), settings)
    details: dict[str, Any] = {"media_id": info.id, "max_distance_m": settings.evidence_max_distance_m,
                               "dispatched_at": dispatched_at.isoformat()}
    if evidence.distance_m is None:
        raise ValidationFailed(f"{name}没有拍摄位置（EXIF），上传时也未取得定位，无法确认在现场拍摄。"
                               "请允许浏览器获取位置后重新上传，或用开启定位的相机拍摄。",
                               code="proof_position_unknown", details=details)
    if source == "upload" and (photo.upload_accuracy_m or 0) > settings.evidence_max_distance_m:
        raise ValidationFailed(f"{name}没有拍摄位置（EXIF），"
                               f"上传时的浏览器定位误差约 {photo.upload_accuracy_m:.0f} 米，"
                               f"大于 {settings.evidence_max_distance_m:.0f} 米的取证范围，无法确认在现场拍摄。",
                               code="proof_position_imprecise",
                               details={**details, "accuracy_m": photo.upload_accuracy_m})
    if evidence.far_away:
        by = "照片 EXIF 定位" if source == "exif" else "上传时的浏览器定位"
        raise ValidationFailed(f"{name}的拍摄位置（{by}）距反映位置 {evidence.distance_m:.0f} 米，"
                               f"超出 {settings.evidence_max_distance_m:.0f} 米的取证范围。",
                               code="proof_far_away",
                               details={**details, "distance_m": round(evidence.distance_m, 1), "source": source})
    if info.taken_at is None:
        raise ValidationFailed(f"{name}没有拍摄时间（EXIF），无法确认是派遣后拍摄。请用相机在现场拍摄后上传原图。",
                               code="proof_time_unknown", details=details)
    if evidence.taken_before_moment:
        raise ValidationFailed(f"{name}拍摄于 {_shown(info.taken_at)}，早于案件派遣时间 {_shown(dispatched_at)}，"
                               "不能作为处置后照片。", code="proof_taken_before_dispatch",
                               details={**details, "taken_at": info.taken_at.isoformat()})
    return {"media_id": info.id, "distance_m": round(evidence.distance_m, 1), "source": source,
            "lat": position[0], "lng": position[1], "taken_at": info.taken_at.isoformat(),
            **({"accuracy_m": photo.upload_accuracy_m} if source == "upload" else {})}


def _shown(moment: dt.datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")


@dataclasses.dataclass(frozen=True)
class ShownPhoto:
    """A photo of 核查's comparison: when it was taken and how far from the report's place, by whose word."""

    media_id: int
    taken_at: dt.datetime | None
    distance_m: float | None
    source: str | None  # "exif", "upload" (the browser's position when it was sent); None: position unknown
    # Where it was taken (WGS-84) by that word; None when unknown, or for an upload checked before the position
    # was kept with the proof.
    position: tuple[float, float] | None = None


def before_and_after(desk_case: DeskCase, report: Any, settings: CitizenSettings) -> tuple[list[ShownPhoto],
                                                                                           list[ShownPhoto]]:
    """The resident's photos (处置前) and the handlers' after-photos of every 处置 (处置后), in order; an after-photo
    as it was checked when handed over."""
    after = []
    for step in desk_case.steps:
        if step.action == HANDLE_ACTION:
            checked = {entry["media_id"]: entry for entry in step.proof}
            after += [_as_checked(checked[media_id]) if media_id in checked else _measured(report, media_id, settings)
                      for media_id in step.media_ids]
    handlers = {photo.media_id for photo in after}
    before = [_measured(report, item.media_id, settings) for item in report.media
              if item.kind == "photo" and item.media_id not in handlers]
    return before, after


def _as_checked(entry: dict[str, Any]) -> ShownPhoto:
    if "lat" in entry:
        position: tuple[float, float] | None = (entry["lat"], entry["lng"])
    else:  # checked before the proof kept its position: the photo's EXIF still has it
        position = media_services.media_info(entry["media_id"]).gps if entry["source"] == "exif" else None
    return ShownPhoto(entry["media_id"], dt.datetime.fromisoformat(entry["taken_at"]), entry["distance_m"],
                      entry["source"], position)


def _measured(report: Any, media_id: int, settings: CitizenSettings) -> ShownPhoto:
    info = media_services.media_info(media_id)
    evidence = citizen_services.measure_evidence(report, info.gps, info.taken_at, report.created_at, settings)
    return ShownPhoto(media_id, info.taken_at, evidence.distance_m, "exif" if info.gps is not None else None,
                      info.gps)
