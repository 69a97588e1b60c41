"""category names told apart

B0399 (a component) and S0199 (an event) were both called 其他市容环境问题, so staff and residents could not tell
them apart in a list; B0699 read 其他其他设施问题. Revision 0003 loads the names from citizen/data/categories.json,
which now has the new ones; a database loaded before is renamed here, unless an admin has renamed the category
since (then the admin's name stays).

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 12:31:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None

# id: (old name, old hint), (new name, new hint)
RENAMED = {
    'B0399': (('其他市容环境问题', '不属于以上类别的市容环境问题，请在描述中说明'),
              ('其他市容环境设施问题', '不属于以上类别的市容环境设施问题，请在描述中说明')),
    'B0699': (('其他其他设施问题', '不属于以上类别的其他设施问题，请在描述中说明'),
              ('其他设施问题', '不属于以上类别的设施问题，请在描述中说明')),
}
categories = sa.table('categories', sa.column('id', sa.String), sa.column('name', sa.String),
                      sa.column('hint', sa.String))


def _rename(old_index, new_index):
    for category_id, texts in RENAMED.items():
        (old_name, old_hint), (new_name, new_hint) = texts[old_index], texts[new_index]
        for column, old, new in (('name', old_name, new_name), ('hint', old_hint, new_hint)):
            op.execute(categories.update().where(categories.c.id == category_id, categories.c[column] == old)
                       .values({column: new}))


def upgrade():
    _rename(0, 1)


def downgrade():
    _rename(1, 0)
