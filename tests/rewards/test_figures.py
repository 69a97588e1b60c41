"""The campaign bulletin's figures: reports, rewards, residents paid and spend in a period, and budget use."""

from __future__ import annotations

import datetime as dt

from rewards import services
from tests.insight.helpers import local, make_campaign_row, make_reward

RESIDENT_A, RESIDENT_B = 7001, 7002


def test_campaign_figures_of_october(app_ctx):
    autumn = make_campaign_row("秋季随手拍", dt.date(2026, 9, 15), dt.date(2026, 10, 15), budget_fen=10_000)
    make_campaign_row("十一月随手拍", dt.date(2026, 11, 1), dt.date(2026, 11, 30), budget_fen=5_000)
    winter = make_campaign_row("冬季随手拍", dt.date(2026, 10, 20), dt.date(2026, 12, 31), budget_fen=8_000)
    # Earned on 30 September (Beijing), paid on 1 October: spend in October, a reward of September.
    make_reward(autumn, local(2026, 9, 30, 20), resident_id=RESIDENT_A, amount_fen=1000, paid_at=local(2026, 10, 1, 1))
    make_reward(autumn, local(2026, 10, 2), resident_id=RESIDENT_B, amount_fen=1000, paid_at=local(2026, 10, 3))
    make_reward(autumn, local(2026, 10, 3), resident_id=RESIDENT_A, amount_fen=500, reversed_at=local(2026, 10, 10))
    make_reward(autumn, local(2026, 10, 4), resident_id=RESIDENT_A)  # refused: a report, no reward
    make_reward(autumn, local(2026, 10, 5), resident_id=RESIDENT_B, amount_fen=2000, paid_at=local(2026, 10, 6))
    make_reward(autumn, local(2026, 10, 14), resident_id=RESIDENT_A, amount_fen=500, paid_at=local(2026, 11, 1, 9))

    figures = services.campaign_figures(dt.date(2026, 10, 1), dt.date(2026, 10, 31))
    assert [figure.name for figure in figures] == ["秋季随手拍", "冬季随手拍"]
    october = figures[0]
    assert october.reports == 5  # 2, 3, 4, 5 and 14 October
    # Earned in October: 1000 + 500 + 2000 + 500, less the 500 reversed.
    assert (october.granted, october.granted_fen) == (3, 3500)
    # Paid in October: 1000 (1 Oct) + 1000 + 2000, to two residents; the 14 October reward was paid in November.
    assert (october.paid, october.paid_fen, october.residents_paid) == (3, 4000, 2)
    assert (october.budget_fen, october.used_fen, october.paid_to_date_fen) == (10_000, 4500, 4500)
    assert october.budget_used_rate == 0.45
    quiet = figures[1]
    assert (quiet.campaign_id, quiet.reports, quiet.granted_fen, quiet.paid, quiet.used_fen) == (winter.id, 0, 0, 0, 0)
    assert services.campaign_figures(dt.date(2027, 1, 1), dt.date(2027, 1, 31)) == []
