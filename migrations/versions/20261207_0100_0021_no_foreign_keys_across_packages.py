"""no foreign keys across domain packages

The rule (README, "Architecture"): a package's tables have foreign keys to its own tables and to core's
staff accounts; a row of another package is referred to by its id alone, and the package that owns the
reference keeps it consistent through its services and data-rights hooks. cases, rewards and citizen
followed it; media and signboard applications still had keys into citizen's residents, which also put
media's tables above citizen's though citizen's code builds on media. No resident row is ever deleted
(forgetting anonymises), so media's ON DELETE CASCADE never ran; media's forget_resident deletes them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07 01:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('media') as batch_op:
        batch_op.drop_constraint('fk_media_owner_resident_id_residents', type_='foreignkey')
    with op.batch_alter_table('signboard_applications') as batch_op:
        batch_op.drop_constraint('fk_signboard_applications_resident_id_residents', type_='foreignkey')


def downgrade():
    with op.batch_alter_table('signboard_applications') as batch_op:
        batch_op.create_foreign_key('fk_signboard_applications_resident_id_residents', 'residents', ['resident_id'],
                                    ['id'])
    with op.batch_alter_table('media') as batch_op:
        batch_op.create_foreign_key('fk_media_owner_resident_id_residents', 'residents', ['owner_resident_id'], ['id'],
                                    ondelete='CASCADE')
