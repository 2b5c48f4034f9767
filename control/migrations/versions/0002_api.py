"""Agency API control plane: clients, credentials (scrypt hashes), grants, hash-chained audit.

Revision ID: 0002_api
Revises: 0001_catalogue
Create Date: 2026-11-30 09:42:10.523663
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0002_api'
down_revision = '0001_catalogue'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_audit',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('action', sa.String(length=100), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=True),
    sa.Column('dataset', sa.String(length=100), nullable=True),
    sa.Column('query', sa.Text(), nullable=True),
    sa.Column('snapshot_id', sa.String(length=40), nullable=True),
    sa.Column('row_count', sa.BigInteger(), nullable=True),
    sa.Column('response_sha256', sa.String(length=64), nullable=True),
    sa.Column('subjects', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_audit_actor'), ['actor'], unique=False)

    op.create_table('api_audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_clients',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('agency', sa.Text(), nullable=False),
    sa.Column('communes', sa.JSON(), nullable=False),
    sa.Column('roles', sa.JSON(), nullable=False),
    sa.Column('rate_per_minute', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('api_audit_subjects',
    sa.Column('seq', sa.BigInteger(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['seq'], ['api_audit.seq'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('seq', 'subject')
    )
    with op.batch_alter_table('api_audit_subjects', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_audit_subjects_subject'), ['subject'], unique=False)

    op.create_table('api_credentials',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('secret_hash', sa.String(length=300), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_credentials_client_id'), ['client_id'], unique=False)

    op.create_table('api_grants',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('client_id', sa.String(length=100), nullable=False),
    sa.Column('dataset_id', sa.String(length=100), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('masks', sa.JSON(), nullable=False),
    sa.Column('row_scope', sa.JSON(), nullable=False),
    sa.Column('purposes', sa.JSON(), nullable=False),
    sa.Column('legal_basis', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('personal', sa.Boolean(), nullable=False),
    sa.Column('approval', sa.String(length=20), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['api_clients.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('api_grants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_grants_client_id'), ['client_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_grants_dataset_id'), ['dataset_id'], unique=False)
    op.create_table('api_audit_checkpoints',
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('at', sa.String(length=40), nullable=False),
    sa.Column('kid', sa.String(length=40), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.execute(sa.text("INSERT INTO api_audit_head (id, seq, entry_hash) VALUES (1, 0, :h)")
               .bindparams(h="0" * 64))


def downgrade() -> None:
    op.drop_table('api_audit_checkpoints')
    with op.batch_alter_table('api_grants', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_grants_dataset_id'))
        batch_op.drop_index(batch_op.f('ix_api_grants_client_id'))

    op.drop_table('api_grants')
    with op.batch_alter_table('api_credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_credentials_client_id'))

    op.drop_table('api_credentials')
    with op.batch_alter_table('api_audit_subjects', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_audit_subjects_subject'))

    op.drop_table('api_audit_subjects')
    op.drop_table('api_clients')
    op.drop_table('api_audit_head')
    with op.batch_alter_table('api_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_audit_actor'))

    op.drop_table('api_audit')
