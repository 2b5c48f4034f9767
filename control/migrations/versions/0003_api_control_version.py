"""Agency API: the control-plane version counter (one row, bumped in the same transaction as
every change to clients, credentials and grants) that workers read per request to know
whether their cached clients and grants are still current.

Revision ID: 0003_api_control_version
Revises: 0002_api
Create Date: 2026-11-30 12:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003_api_control_version'
down_revision = '0002_api'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_control_version',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.execute(sa.text("INSERT INTO api_control_version (id, version) VALUES (1, 1)"))


def downgrade() -> None:
    op.drop_table('api_control_version')
