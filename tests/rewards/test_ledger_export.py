"""The ledger as officers download it for the finance office's spreadsheet."""

from __future__ import annotations

import csv
import io

from core.db import db
from rewards import services
from tests.citizen.helpers import sign_in
from tests.core.admin_helpers import signed_in_staff
from tests.rewards.helpers import OFFICER, accepted_report, make_campaign, reward_of


def test_text_a_spreadsheet_would_run_as_a_formula_is_exported_as_text(app, client, run_jobs):
    """An officer's note is free text: one starting with =, +, - or @ would be a formula in Excel or WPS (a link out,
    a command), so the export makes it plain text; the amounts stay numbers."""
    make_campaign(app, default_amount_fen=300)
    report_id = accepted_report(app, client, run_jobs, sign_in(client, "oLedgerExportResident"))
    with app.app_context():
        services.reverse_reward(OFFICER, reward_of(app, report_id).id, note='=HYPERLINK("http://example.com","重复")')
        db.session.commit()
    officer = signed_in_staff(app, "ledger_officer", "reward_officer")
    exported = officer.get("/admin/rewards/export.csv").get_data(as_text=True).lstrip("\ufeff")
    header, granted, reversed_ = list(csv.reader(io.StringIO(exported)))
    assert reversed_[header.index("备注")] == '\'=HYPERLINK("http://example.com","重复")'
    assert (granted[header.index("金额（元）")], reversed_[header.index("金额（元）")]) == ("3.00", "3.00")
