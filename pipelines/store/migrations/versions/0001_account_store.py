"""The account store: accounts, blacklists and their audit, the credit ledger, saved lists, campaigns and their
lifecycle, sends (PLUS-7), erasures (PLUS-8).

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 21:47:57.316839
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('accounts',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('allowed_countries', sa.JSON(), nullable=False),
    sa.Column('credit_limited', sa.Boolean(), nullable=False),
    sa.Column('send_window', sa.String(length=32), nullable=False),
    sa.Column('max_parts', sa.Integer(), nullable=False),
    sa.Column('allowed_senders', sa.JSON(), nullable=False),
    sa.Column('frequency_cap', sa.Integer(), nullable=True),
    sa.Column('frequency_hours', sa.Integer(), nullable=False),
    sa.Column('retention_months', sa.Integer(), nullable=True),
    sa.Column('client', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accounts'))
    )
    op.create_table('blacklist',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=True),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_blacklist')),
    sa.UniqueConstraint('kind', 'account_id', 'number', name=op.f('uq_blacklist_kind_account_id_number'))
    )
    op.create_table('campaign_events',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_events'))
    )
    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_events_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('erasures',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=True),
    sa.Column('number_hash', sa.String(length=80), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('by', sa.String(length=128), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_erasures'))
    )
    op.create_table('opt_out_audit',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('by', sa.String(length=128), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_opt_out_audit'))
    )
    with op.batch_alter_table('opt_out_audit', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_opt_out_audit_account_id_number'), ['account_id', 'number'], unique=False)

    op.create_table('sends',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sends'))
    )
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sends_account_id_number_sent_at'), ['account_id', 'number', 'sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sends_campaign_id'), ['campaign_id'], unique=False)

    op.create_table('store_settings',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_store_settings'))
    )
    op.create_table('campaigns',
    sa.Column('id', sa.String(length=128), nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('spec', sa.Text(), nullable=False),
    sa.Column('send_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('run_id', sa.String(length=256), nullable=True),
    sa.Column('list_versions', sa.JSON(), nullable=True),
    sa.Column('credits_reserved', sa.Integer(), nullable=False),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('figures', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_campaigns_account_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaigns'))
    )
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaigns_account_id_status_updated_at'), ['account_id', 'status', 'updated_at'], unique=False)

    op.create_table('credit_ledger',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('campaign_id', sa.String(length=128), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('credits', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=True),
    sa.Column('by', sa.String(length=128), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_credit_ledger_account_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_ledger'))
    )
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credit_ledger_account_id_campaign_id'), ['account_id', 'campaign_id'], unique=False)

    op.create_table('saved_lists',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('account_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('mobile_column', sa.String(length=128), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_saved_lists_account_id')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_lists')),
    sa.UniqueConstraint('account_id', 'name', name=op.f('uq_saved_lists_account_id_name'))
    )
    op.create_table('saved_list_rows',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('line', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=80), nullable=False),
    sa.Column('int_mobile', sa.String(length=80), nullable=True),
    sa.Column('fields', sa.JSON(), nullable=False),
    sa.Column('added_in', sa.Integer(), nullable=False),
    sa.Column('removed_in', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['list_id'], ['saved_lists.id'], name=op.f('fk_saved_list_rows_list_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_saved_list_rows'))
    )
    with op.batch_alter_table('saved_list_rows', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_list_rows_int_mobile'), ['int_mobile'], unique=False)
        batch_op.create_index(batch_op.f('ix_saved_list_rows_list_id_added_in'), ['list_id', 'added_in'], unique=False)

    op.create_table('saved_list_versions',
    sa.Column('list_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('mobile_column', sa.String(length=128), nullable=False),
    sa.Column('change', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['list_id'], ['saved_lists.id'], name=op.f('fk_saved_list_versions_list_id'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('list_id', 'version', name=op.f('pk_saved_list_versions'))
    )


def downgrade() -> None:
    op.drop_table('saved_list_versions')
    with op.batch_alter_table('saved_list_rows', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_list_rows_list_id_added_in'))
        batch_op.drop_index(batch_op.f('ix_saved_list_rows_int_mobile'))

    op.drop_table('saved_list_rows')
    op.drop_table('saved_lists')
    with op.batch_alter_table('credit_ledger', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credit_ledger_account_id_campaign_id'))

    op.drop_table('credit_ledger')
    with op.batch_alter_table('campaigns', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaigns_account_id_status_updated_at'))

    op.drop_table('campaigns')
    op.drop_table('store_settings')
    with op.batch_alter_table('sends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sends_campaign_id'))
        batch_op.drop_index(batch_op.f('ix_sends_account_id_number_sent_at'))

    op.drop_table('sends')
    with op.batch_alter_table('opt_out_audit', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_opt_out_audit_account_id_number'))

    op.drop_table('opt_out_audit')
    op.drop_table('erasures')
    with op.batch_alter_table('campaign_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_events_campaign_id'))

    op.drop_table('campaign_events')
    op.drop_table('blacklist')
    op.drop_table('accounts')
