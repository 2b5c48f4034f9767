"""Catalogue tables: datasets, runs (quality history and lineage), distributions, refusals.

Revision ID: 0001_catalogue
Revises: (none)
Create Date: 2026-11-30 08:38:04.708909
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0001_catalogue'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('catalog_datasets',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('title_vi', sa.Text(), nullable=False),
    sa.Column('title_en', sa.Text(), nullable=False),
    sa.Column('description_vi', sa.Text(), nullable=False),
    sa.Column('description_en', sa.Text(), nullable=False),
    sa.Column('owner_vi', sa.Text(), nullable=False),
    sa.Column('owner_en', sa.Text(), nullable=False),
    sa.Column('owner_slug', sa.String(length=200), nullable=False),
    sa.Column('contact', sa.Text(), nullable=True),
    sa.Column('theme', sa.String(length=100), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('licence', sa.String(length=100), nullable=False),
    sa.Column('open_data', sa.Boolean(), nullable=False),
    sa.Column('update_frequency', sa.String(length=100), nullable=False),
    sa.Column('max_age_days', sa.Integer(), nullable=True),
    sa.Column('schema', sa.JSON(), nullable=False),
    sa.Column('spec_sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalog_datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_datasets_open_data'), ['open_data'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_datasets_owner_slug'), ['owner_slug'], unique=False)

    op.create_table('catalog_distributions',
    sa.Column('id', sa.String(length=200), nullable=False),
    sa.Column('dataset_id', sa.String(length=100), nullable=False),
    sa.Column('snapshot_id', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('media_type', sa.String(length=200), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('byte_size', sa.BigInteger(), nullable=False),
    sa.Column('row_count', sa.BigInteger(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('current', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['catalog_datasets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalog_distributions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_distributions_current'), ['current'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_distributions_dataset_id'), ['dataset_id'], unique=False)

    op.create_table('catalog_export_refusals',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('dataset_id', sa.String(length=100), nullable=False),
    sa.Column('snapshot_id', sa.BigInteger(), nullable=True),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('findings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['catalog_datasets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('catalog_export_refusals', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_export_refusals_dataset_id'), ['dataset_id'],
                              unique=False)

    op.create_table('catalog_runs',
    sa.Column('dataset_id', sa.String(length=100), nullable=False),
    sa.Column('run_id', sa.String(length=100), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('connector', sa.String(length=100), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('raw_rows', sa.BigInteger(), nullable=False),
    sa.Column('published_rows', sa.BigInteger(), nullable=False),
    sa.Column('quarantined_rows', sa.BigInteger(), nullable=False),
    sa.Column('total_rows', sa.BigInteger(), nullable=False),
    sa.Column('quality_score', sa.Float(), nullable=False),
    sa.Column('snapshot_id', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['dataset_id'], ['catalog_datasets.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('dataset_id', 'run_id')
    )
    with op.batch_alter_table('catalog_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_catalog_runs_published_at'), ['published_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_catalog_runs_snapshot_id'), ['snapshot_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('catalog_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_runs_snapshot_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_runs_published_at'))

    op.drop_table('catalog_runs')
    with op.batch_alter_table('catalog_export_refusals', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_export_refusals_dataset_id'))

    op.drop_table('catalog_export_refusals')
    with op.batch_alter_table('catalog_distributions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_distributions_dataset_id'))
        batch_op.drop_index(batch_op.f('ix_catalog_distributions_current'))

    op.drop_table('catalog_distributions')
    with op.batch_alter_table('catalog_datasets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_catalog_datasets_owner_slug'))
        batch_op.drop_index(batch_op.f('ix_catalog_datasets_open_data'))

    op.drop_table('catalog_datasets')
