"""Signboard API: the catalogue, previews, the city's rules, and pre-approval applications."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint as PageBlueprint
from flask import Response, render_template, request
from flask.views import MethodView
from flask_smorest import Blueprint

from core.auth import current_resident_id, resident_required
from core.config import current_settings
from core.errors import NotFound
from core.ratelimit import rate_limit
from signboard_templates import services
from signboard_templates.certificate import certificate_of, certificate_response, design_image, valid_today
from signboard_templates.rules import BUILDING_KINDS, DEFAULT_RULES_FILE, MOUNT_POSITIONS, RuleSet, load_rule_set
from signboard_templates.schemas import (ApplicationInputSchema, ApplicationSchema, CategorySchema,
                                         CheckResultSchema, GalleryQuerySchema, PreviewQuerySchema, RuleSetSchema,
                                         TemplateListSchema, TemplateQuerySchema, TemplateSchema)
from signboard_templates.settings import SignboardSettings

blp = Blueprint("signboards", __name__, description="Storefront signboards: templates, previews, pre-approval")
certificates_bp = PageBlueprint("signboard_certificates", __name__, template_folder="templates")
IMAGE_CACHE_CONTROL = "public, max-age=86400"
RESIDENT = [{"bearerAuth": []}]


def _rules_of(settings: SignboardSettings) -> RuleSet:
    return load_rule_set(settings.signboard_rules_file or DEFAULT_RULES_FILE)


def rule_set() -> RuleSet:
    return _rules_of(current_settings(SignboardSettings))


@blp.record_once
def _check_rules_at_start(state) -> None:  # noqa: ANN001
    # A broken rule file stops the app from starting rather than failing the first merchant.
    _rules_of(state.app.config["APP_SETTINGS"].area(SignboardSettings))


def _png(etag: str, render: Callable[[], bytes]) -> Response:
    """A PNG named by its content: a repeat with If-None-Match gets 304 without any drawing.

    Only drawing is rate-limited: cached pictures and 304s cost next to nothing.
    """
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        if services.preview_cache.get(etag) is None:
            rate_limit("preview", request.remote_addr or "")
        response = Response(render(), mimetype="image/png")
    response.set_etag(etag)
    response.headers["Cache-Control"] = IMAGE_CACHE_CONTROL
    return response


@blp.route("/signboard-templates")
class Templates(MethodView):
    @blp.arguments(TemplateQuerySchema, location="query")
    @blp.response(200, TemplateListSchema)
    def get(self, filters: dict) -> dict:
        """The catalogue, filtered by category, material and lighting, with facet counts"""
        catalogue = services.catalogue()
        templates = catalogue.search(**filters)
        return {"catalogue_version": catalogue.version, "total": len(templates),
                "facets": catalogue.facets(**filters), "templates": templates}


@blp.route("/signboard-templates/<template_id>")
class TemplateDetail(MethodView):
    @blp.response(200, TemplateSchema)
    def get(self, template_id: str):  # noqa: ANN201
        """One template"""
        return services.get_template(template_id)


@blp.route("/signboard-templates/<template_id>/preview.png", endpoint="preview")
class TemplatePreview(MethodView):
    @blp.arguments(PreviewQuerySchema, location="query")
    @blp.response(200, content_type="image/png", description="The template with the shop's name, as PNG")
    @blp.alt_response(429, description="rate_limited: too many renderings (with Retry-After)")
    def get(self, query: dict, template_id: str) -> Response:
        """Preview a template with the shop's name at the board's size (ETag-cached)"""
        spec = services.preview_spec(template_id, query["shop_name"], query.get("width_m"), query.get("height_m"))
        return _png(spec.etag, lambda: services.preview_png(spec))


@blp.route("/signboard-categories")
class Categories(MethodView):
    @blp.response(200, CategorySchema(many=True))
    def get(self):  # noqa: ANN201
        """The six business categories, each with its gallery picture"""
        return list(services.catalogue().categories)


@blp.route("/signboard-categories/<code>/gallery.png", endpoint="gallery")
class CategoryGallery(MethodView):
    @blp.arguments(GalleryQuerySchema, location="query")
    @blp.response(200, content_type="image/png", description="All templates of a category, numbered, as PNG")
    @blp.alt_response(429, description="rate_limited: too many renderings (with Retry-After)")
    def get(self, query: dict, code: str) -> Response:
        """A thumbnail gallery of a category's templates for the picker"""
        name = query.get("shop_name")
        return _png(services.gallery_etag(code, name), lambda: services.gallery_png(code, name))


@blp.route("/signboard-rules")
class Rules(MethodView):
    @blp.response(200, RuleSetSchema)
    def get(self) -> dict:
        """The city's signboard rules (the published list of banned situations)"""
        rules = rule_set()
        return {"city": rules.city, "version": rules.version, "rules": list(rules.rules),
                "mount_positions": MOUNT_POSITIONS, "building_kinds": BUILDING_KINDS}


@blp.route("/signboard-applications/check")
class ApplicationCheck(MethodView):
    @resident_required
    @blp.arguments(ApplicationInputSchema)
    @blp.response(200, CheckResultSchema)
    @blp.doc(security=RESIDENT)
    def post(self, body: dict) -> dict:
        """Run the automatic checks on a proposal without saving it"""
        results = services.check_proposal(rule_set(), body)
        return {"can_submit": not any(not r.passed and r.severity == "blocking" for r in results), "checks": results}


@blp.route("/signboard-applications")
class Applications(MethodView):
    @resident_required
    @blp.arguments(ApplicationInputSchema)
    @blp.response(201, ApplicationSchema)
    @blp.doc(security=RESIDENT)
    def post(self, body: dict):  # noqa: ANN201
        """Apply for a signboard; the checks come back at once (status draft until they pass)"""
        return services.create_application(current_resident_id(), body, rule_set())


@blp.route("/signboard-applications/mine")
class MyApplications(MethodView):
    @resident_required
    @blp.response(200, ApplicationSchema(many=True))
    @blp.doc(security=RESIDENT)
    def get(self):  # noqa: ANN201
        """The signed-in merchant's applications, newest first"""
        return services.my_applications(current_resident_id())


@blp.route("/signboard-applications/<int:application_id>")
class ApplicationDetail(MethodView):
    @resident_required
    @blp.response(200, ApplicationSchema)
    @blp.doc(security=RESIDENT)
    def get(self, application_id: int):  # noqa: ANN201
        """One of the merchant's applications: status, checks, reviewer's comments, approved design"""
        return services.get_own_application(current_resident_id(), application_id)

    @resident_required
    @blp.arguments(ApplicationInputSchema)
    @blp.response(200, ApplicationSchema)
    @blp.alt_response(409, description="not_editable")
    @blp.doc(security=RESIDENT)
    def put(self, body: dict, application_id: int):  # noqa: ANN201
        """Resubmit after changes (allowed while draft or changes requested)"""
        return services.update_application(current_resident_id(), application_id, body, rule_set())


@blp.route("/signboard-applications/<int:application_id>/certificate.pdf")
class ApplicationCertificate(MethodView):
    @resident_required
    @blp.response(200, content_type="application/pdf", description="The approval certificate on A4, as PDF")
    @blp.alt_response(409, description="no_certificate: the application is not approved")
    @blp.alt_response(503, description="pdf_failed: the PDF could not be printed")
    @blp.doc(security=RESIDENT)
    def get(self, application_id: int) -> Response:
        """The merchant's approval certificate to print (门头招牌设置核准证明), with its verification QR code"""
        application = services.get_own_application(current_resident_id(), application_id)
        certificate_of(application)  # 409 before approval, before any printing
        rate_limit("pdf", f"resident:{current_resident_id()}")
        return certificate_response(application)


@certificates_bp.get("/signboard-certificates/<number>")
def certificate(number: str) -> tuple[str, int]:
    """The public verification page of a certificate (its QR code opens it): whether it is valid, and the sign's
    approved facts only (nothing about the merchant beyond the shop's name and address)."""
    rate_limit("certificate", request.remote_addr or "")
    try:
        application = services.find_certificate(number)
    except NotFound:
        return render_template("signboard_templates/certificate.html", certificate=None, number=number), 404
    found = certificate_of(application)
    return render_template("signboard_templates/certificate.html", certificate=found, number=number,
                           valid=valid_today(found),
                           design=design_image(application)), 200
