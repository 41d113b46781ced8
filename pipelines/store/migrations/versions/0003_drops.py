"""DROP-1, DROP-2 (issue 13): drop rules (an account's prefix in the bucket, its template and mode) and the drops
accepted, unique by content hash.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 08:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('drop_rules',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=512), nullable=False),
    sa.Column('template_kind', sa.String(length=8), nullable=False),
    sa.Column('template', sa.String(length=1024), nullable=False),
    sa.Column('mode', sa.String(length=8), nullable=False),
    sa.Column('max_invalid_share', sa.Float(), nullable=True),
    sa.Column('max_bytes', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_drop_rules_account_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drop_rules')),
    sa.UniqueConstraint('prefix', name=op.f('uq_drop_rules_prefix'))
    )
    op.create_table('drops',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('source', sa.String(length=1024), nullable=False),
    sa.Column('target', sa.String(length=1024), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=False),
    sa.Column('conf', sa.JSON(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_drops')),
    sa.UniqueConstraint('content_hash', name=op.f('uq_drops_content_hash'))
    )
    with op.batch_alter_table('drops', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_drops_source'), ['source'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('drops', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_drops_source'))
    op.drop_table('drops')
    op.drop_table('drop_rules')
