"""proof before closing: the after-photos of a 处置 step, as checked

The case desk's 处置 step needs photos taken at the site after the case was dispatched (cases.services.proof);
each step keeps what was checked of them (distance from the report, by EXIF or the browser's position, and
the time taken) for 核查 to see.

Revision ID: 0029
Revises: 0027
Create Date: 2026-12-07 12:29:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0029'
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade():
    # NOT NULL with a server default: SQLite adds such a column in place, and the steps before it had no proof.
    op.add_column('desk_case_steps', sa.Column('proof', sa.JSON(), nullable=False, server_default='[]'))


def downgrade():
    with op.batch_alter_table('desk_case_steps', schema=None) as batch_op:
        batch_op.drop_column('proof')
