"""USER-1 (issue 14): an index for the lockout of unknown logins, which counts their recent `login_failed` rows.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 14:20:00
"""
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_action_actor_at'), ['action', 'actor', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_action_actor_at'))
