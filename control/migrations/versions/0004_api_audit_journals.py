"""Agency API: how far each worker's audit journal is sealed into the hash chain (bytes and
lines), written in the same transaction as the entries it seals (api/audit_journal.py); and
which serialisation each audit entry's hash used (`hash_version`: 1 for the entries before,
api/audit.HASH_VERSION after).

Revision ID: 0004_api_audit_journals
Revises: 0003_api_control_version
Create Date: 2026-11-30 15:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004_api_audit_journals'
down_revision = '0003_api_control_version'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_audit_journals',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('sealed_bytes', sa.BigInteger(), nullable=False),
    sa.Column('sealed_lines', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hash_version', sa.Integer(), server_default='1', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.drop_column('hash_version')
    op.drop_table('api_audit_journals')
