"""reports: a public version beside the evidence (masked text, moderated photos, internal notes)

The public Open311 feed and the nearby list served residents' text as typed and the last timeline note,
which could be an officer's internal note. Reports get their masked public text, photos a moderator's
publication (blur boxes, the blurred copy), timeline steps a visibility and an internal staff note.

Existing notes the case system or the desk wrote were never marked public: a status change keeps the
resident's standard text and its note becomes internal; a progress note becomes internal.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 21:40:00

"""
from alembic import op
import sqlalchemy as sa

from core.privacy import mask_personal_data


# revision identifiers, used by Alembic.
revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

BATCH = 1000
# citizen.services.RESIDENT_NOTES as they were, frozen here as migrations must be.
RESIDENT_NOTES = {
    "accepted": "您的反映已受理，将转交城市管理部门处理。",
    "forwarded": "已转交城市管理部门立案处理。",
    "in_progress": "责任单位正在处置。",
    "resolved": "问题已处置完毕，欢迎您评价。",
    "closed": "已结案，感谢您对城市管理的支持。",
}
# The desk's and the case updates' own texts for a step, with nobody's words in them.
STANDARD_PROGRESS_NOTES = ("城市管理监督指挥中心已立案。", "处置结果已核查通过。", "案件处理进度已更新。")

reports = sa.table("reports", sa.column("id", sa.Integer), sa.column("description", sa.String),
                   sa.column("public_description", sa.String))
events = sa.table("report_events", sa.column("actor_kind", sa.String), sa.column("from_status", sa.String),
                  sa.column("to_status", sa.String), sa.column("note", sa.String), sa.column("visibility", sa.String),
                  sa.column("staff_note", sa.String))


def upgrade():
    # NOT NULL with a server default: SQLite adds such a column in place (a rebuilt table would lose its triggers).
    op.add_column('reports', sa.Column('public_description', sa.String(length=500), nullable=False,
                                       server_default=''))
    op.add_column('report_media', sa.Column('is_public', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('report_media', sa.Column('blur_boxes', sa.JSON(), nullable=False, server_default='[]'))
    op.add_column('report_media', sa.Column('public_media_id', sa.Integer(), nullable=True))
    op.add_column('report_events', sa.Column('visibility', sa.String(length=8), nullable=False,
                                             server_default='resident'))
    op.add_column('report_events', sa.Column('staff_note', sa.String(length=500), nullable=True))

    connection = op.get_bind()
    last_id = 0
    while True:
        rows = connection.execute(sa.select(reports.c.id, reports.c.description).where(reports.c.id > last_id)
                                  .order_by(reports.c.id).limit(BATCH)).all()
        if not rows:
            break
        for report_id, description in rows:
            connection.execute(reports.update().where(reports.c.id == report_id)
                               .values(public_description=mask_personal_data(description)))
        last_id = rows[-1][0]

    by_case_system = events.c.actor_kind == "case_system"
    moved = events.c.from_status != events.c.to_status
    for status, text in RESIDENT_NOTES.items():
        connection.execute(events.update().where(by_case_system, moved, events.c.to_status == status,
                                                 events.c.note != text)
                           .values(staff_note=events.c.note, note=text))
    connection.execute(events.update().where(by_case_system, events.c.from_status == events.c.to_status,
                                             events.c.note.not_in(STANDARD_PROGRESS_NOTES))
                       .values(visibility="internal"))


def downgrade():
    op.drop_column('report_events', 'staff_note')
    op.drop_column('report_events', 'visibility')
    op.drop_column('report_media', 'public_media_id')
    op.drop_column('report_media', 'blur_boxes')
    op.drop_column('report_media', 'is_public')
    op.drop_column('reports', 'public_description')
