"""Signboards: the catalogue, cached previews, and the pre-approval workflow. No Flask here.

``templates`` (the catalogue, shop names, board sizes), ``previews`` (drawn pictures and their cache),
``applications`` (proposals, checks, decisions), ``certificates`` (what a certificate states) and
``data_rights``. What callers use is named here;
other packages read application figures through ``applications_by_status`` and ``STATUSES``.
"""

from signboard_templates.models import STATUSES
from signboard_templates.services.applications import (applications_by_status, check_proposal, create_application,
                                                       decide, facade_photo_urls, find_certificate, get_application,
                                                       get_own_application, my_applications, review_queue,
                                                       update_application)
from signboard_templates.services.certificates import SHANGHAI, Certificate, approved_design_png, certificate_of
from signboard_templates.services.data_rights import export_resident_data, forget_resident
from signboard_templates.services.previews import gallery_etag, gallery_png, preview_cache, preview_png, preview_spec
from signboard_templates.services.templates import (catalogue, get_category, get_template, shop_name_problem,
                                                    sign_proportion_problem)

__all__ = [
    "SHANGHAI", "STATUSES", "Certificate", "applications_by_status", "approved_design_png", "certificate_of",
    "catalogue", "check_proposal", "create_application", "decide", "export_resident_data", "facade_photo_urls",
    "find_certificate", "forget_resident", "gallery_etag", "gallery_png", "get_application", "get_category",
    "get_own_application", "get_template", "my_applications", "preview_cache", "preview_png", "preview_spec",
    "review_queue", "shop_name_problem", "sign_proportion_problem", "update_application",
]
