"""URL-1: an account's short-link domain (accounts.tracking_domain; None: the platform's).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 07:40:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('tracking_domain', sa.String(length=10), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('tracking_domain')
