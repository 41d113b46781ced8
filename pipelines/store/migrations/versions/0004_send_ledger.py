"""PLUS-1, SEND-7 (issue 13): the send ledger in the account store (SMSFLOW_LEDGER=store), readable by every worker.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 10:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('send_ledger',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('campaign', sa.String(length=256), nullable=False),
    sa.Column('writer', sa.String(length=160), nullable=False),
    sa.Column('key', sa.String(length=256), nullable=True),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('status', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.Column('evidence', sa.String(length=64), nullable=True),
    sa.Column('ts', sa.Float(), nullable=True),
    sa.Column('boot', sa.String(length=64), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_send_ledger'))
    )
    with op.batch_alter_table('send_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_send_ledger_campaign_id'), ['campaign', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('send_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_send_ledger_campaign_id'))
    op.drop_table('send_ledger')
