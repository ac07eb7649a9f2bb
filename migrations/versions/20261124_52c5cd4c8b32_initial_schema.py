"""Initial schema: the whole domain model, and the append-only chain of custody.

Revision ID: 52c5cd4c8b32
Revises: 
Create Date: 2026-11-24 20:36:40.961487
"""

from alembic import op
import sqlalchemy as sa
import biobank.db

revision = '52c5cd4c8b32'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('kit_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('version', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kit_templates')),
    sa.UniqueConstraint('code', 'version', name=op.f('uq_kit_templates_code_version'))
    )
    op.create_table('sites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('collection', 'biobank', name='site_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('phone', sa.String(length=40), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sites')),
    sa.UniqueConstraint('code', name=op.f('uq_sites_code'))
    )
    op.create_table('tube_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('description', sa.String(length=200), nullable=False),
    sa.Column('specimen', sa.Enum('whole_blood', 'serum', 'plasma', 'urine', 'saliva', 'buffy_coat', 'dna', 'rna', name='specimen', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=2), nullable=False),
    sa.Column('additive', sa.String(length=100), nullable=False),
    sa.Column('cap_color', sa.String(length=40), nullable=False),
    sa.Column('requires_processing', sa.Boolean(), nullable=False),
    sa.Column('labels_per_tube', sa.Integer(), nullable=False),
    sa.Column('ship_temperature', sa.Enum('ambient', 'refrigerated', 'frozen', name='ship_temperature', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('storage_temperature', sa.String(length=16), nullable=False),
    sa.Column('protocol_version', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('labels_per_tube BETWEEN 1 AND 4', name=op.f('ck_tube_types_labels_per_tube_range')),
    sa.CheckConstraint('volume_ml > 0', name=op.f('ck_tube_types_volume_positive')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tube_types')),
    sa.UniqueConstraint('code', name=op.f('uq_tube_types_code'))
    )
    op.create_table('containers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.Enum('freezer', 'shelf', 'rack', 'box', name='container_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('barcode', sa.String(length=16), nullable=True),
    sa.Column('temperature_c', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('cols', sa.Integer(), nullable=True),
    sa.Column('allowed_specimens', sa.String(length=200), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint("(kind = 'box') = (rows IS NOT NULL AND cols IS NOT NULL)", name=op.f('ck_containers_box_has_grid')),
    sa.CheckConstraint("(kind = 'freezer') = (parent_id IS NULL)", name=op.f('ck_containers_freezers_are_roots')),
    sa.CheckConstraint('rows IS NULL OR (rows BETWEEN 1 AND 26 AND cols BETWEEN 1 AND 99)', name=op.f('ck_containers_grid_size')),
    sa.ForeignKeyConstraint(['parent_id'], ['containers.id'], name=op.f('fk_containers_parent_id_containers')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_containers_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_containers')),
    sa.UniqueConstraint('barcode', name=op.f('uq_containers_barcode')),
    sa.UniqueConstraint('site_id', 'parent_id', 'name', name=op.f('uq_containers_site_id_parent_id_name'))
    )
    with op.batch_alter_table('containers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_containers_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_containers_site_id'), ['site_id'], unique=False)

    op.create_table('kit_template_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.Integer(), nullable=False),
    sa.Column('tube_type_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['kit_id'], ['kit_templates.id'], name=op.f('fk_kit_template_items_kit_id_kit_templates')),
    sa.ForeignKeyConstraint(['tube_type_id'], ['tube_types.id'], name=op.f('fk_kit_template_items_tube_type_id_tube_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_kit_template_items')),
    sa.UniqueConstraint('kit_id', 'tube_type_id', name=op.f('uq_kit_template_items_kit_id_tube_type_id'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('full_name', sa.String(length=200), nullable=False),
    sa.Column('role', sa.Enum('collector', 'technician', 'coordinator', 'admin', name='role', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_key', sa.String(length=32), nullable=False),
    sa.Column('last_login_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_users_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('session_key', name=op.f('uq_users_session_key')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_users_site_id'), ['site_id'], unique=False)

    op.create_table('api_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=True),
    sa.Column('expires_at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('revoked_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('last_used_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_api_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_api_tokens_token_hash'))
    )
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_tokens_user_id'), ['user_id'], unique=False)

    op.create_table('label_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('count >= 1', name=op.f('ck_label_batches_count_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_label_batches_created_by_id_users')),
    sa.ForeignKeyConstraint(['kit_id'], ['kit_templates.id'], name=op.f('fk_label_batches_kit_id_kit_templates')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_label_batches_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_batches'))
    )
    with op.batch_alter_table('label_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_batches_site_id'), ['site_id'], unique=False)

    op.create_table('shipments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('manifest_number', sa.String(length=16), nullable=False),
    sa.Column('origin_site_id', sa.Integer(), nullable=False),
    sa.Column('destination_site_id', sa.Integer(), nullable=False),
    sa.Column('temperature', sa.Enum('ambient', 'refrigerated', 'frozen', name='shipment_temperature', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('status', sa.Enum('open', 'in_transit', 'received', 'received_with_discrepancies', 'cancelled', name='shipment_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('carrier', sa.String(length=64), nullable=True),
    sa.Column('tracking_number', sa.String(length=64), nullable=True),
    sa.Column('dry_ice_kg', sa.Numeric(precision=6, scale=2), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('dispatched_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('dispatched_by_id', sa.Integer(), nullable=True),
    sa.Column('receipt_opened_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('receipt_opened_by_id', sa.Integer(), nullable=True),
    sa.Column('received_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('received_by_id', sa.Integer(), nullable=True),
    sa.Column('condition', sa.Enum('good', 'damaged', 'leaking', 'warm', 'dry_ice_gone', name='package_condition', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('arrival_temperature_c', sa.Numeric(precision=5, scale=1), nullable=True),
    sa.Column('receipt_notes', sa.Text(), nullable=True),
    sa.Column('cancelled_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('dry_ice_kg IS NULL OR dry_ice_kg > 0', name=op.f('ck_shipments_dry_ice_positive')),
    sa.CheckConstraint('origin_site_id <> destination_site_id', name=op.f('ck_shipments_distinct_sites')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_shipments_created_by_id_users')),
    sa.ForeignKeyConstraint(['destination_site_id'], ['sites.id'], name=op.f('fk_shipments_destination_site_id_sites')),
    sa.ForeignKeyConstraint(['dispatched_by_id'], ['users.id'], name=op.f('fk_shipments_dispatched_by_id_users')),
    sa.ForeignKeyConstraint(['origin_site_id'], ['sites.id'], name=op.f('fk_shipments_origin_site_id_sites')),
    sa.ForeignKeyConstraint(['receipt_opened_by_id'], ['users.id'], name=op.f('fk_shipments_receipt_opened_by_id_users')),
    sa.ForeignKeyConstraint(['received_by_id'], ['users.id'], name=op.f('fk_shipments_received_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipments')),
    sa.UniqueConstraint('manifest_number', name=op.f('uq_shipments_manifest_number'))
    )
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipments_destination_site_id'), ['destination_site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_dispatched_at'), ['dispatched_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_origin_site_id'), ['origin_site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipments_status'), ['status'], unique=False)

    op.create_table('label_kits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('sequence', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['label_batches.id'], name=op.f('fk_label_kits_batch_id_label_batches')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_label_kits')),
    sa.UniqueConstraint('batch_id', 'sequence', name=op.f('uq_label_kits_batch_id_sequence'))
    )
    with op.batch_alter_table('label_kits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_label_kits_batch_id'), ['batch_id'], unique=False)

    op.create_table('collections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.String(length=32), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('kit_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.Enum('draft', 'finalized', 'cancelled', name='collection_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('finalized_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('finalized_by_id', sa.Integer(), nullable=True),
    sa.Column('cancelled_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('cancelled_by_id', sa.Integer(), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('restored_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('restored_by_id', sa.Integer(), nullable=True),
    sa.Column('restore_reason', sa.Text(), nullable=True),
    sa.Column('amended_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('amended_by_id', sa.Integer(), nullable=True),
    sa.Column('amend_reason', sa.Text(), nullable=True),
    sa.Column('label_kit_id', sa.Integer(), nullable=True),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['amended_by_id'], ['users.id'], name=op.f('fk_collections_amended_by_id_users')),
    sa.ForeignKeyConstraint(['cancelled_by_id'], ['users.id'], name=op.f('fk_collections_cancelled_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_collections_created_by_id_users')),
    sa.ForeignKeyConstraint(['finalized_by_id'], ['users.id'], name=op.f('fk_collections_finalized_by_id_users')),
    sa.ForeignKeyConstraint(['kit_id'], ['kit_templates.id'], name=op.f('fk_collections_kit_id_kit_templates')),
    sa.ForeignKeyConstraint(['label_kit_id'], ['label_kits.id'], name=op.f('fk_collections_label_kit_id_label_kits')),
    sa.ForeignKeyConstraint(['restored_by_id'], ['users.id'], name=op.f('fk_collections_restored_by_id_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_collections_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collections')),
    sa.UniqueConstraint('label_kit_id', name=op.f('uq_collections_label_kit_id'))
    )
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collections_finalized_at'), ['finalized_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_collections_participant_id'), ['participant_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_collections_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_collections_status'), ['status'], unique=False)

    op.create_table('collection_amendments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=False),
    sa.Column('at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_collection_amendments_actor_id_users')),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_collection_amendments_collection_id_collections')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_amendments'))
    )
    with op.batch_alter_table('collection_amendments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_collection_amendments_collection_id'), ['collection_id'], unique=False)

    op.create_table('samples',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('barcode', sa.String(length=10), nullable=False),
    sa.Column('tube_type_id', sa.Integer(), nullable=False),
    sa.Column('collection_id', sa.Integer(), nullable=True),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('label_kit_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('custody_site_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.Enum('pending', 'collected', 'processed', 'finalized', 'in_transit', 'received', 'stored', 'checked_out', 'withdrawn', 'consumed', 'disposed', 'missing', 'cancelled', name='sample_status', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('volume_ml', sa.Numeric(precision=8, scale=3), nullable=True),
    sa.Column('collected_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('collected_by_id', sa.Integer(), nullable=True),
    sa.Column('processed_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('processed_by_id', sa.Integer(), nullable=True),
    sa.Column('centrifuge', sa.Enum('swinging_bucket', 'fixed_angle', name='centrifuge', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('finalized_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('received_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('stored_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('checked_out_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('freeze_thaw_count', sa.Integer(), nullable=False),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.CheckConstraint('freeze_thaw_count >= 0', name=op.f('ck_samples_freeze_thaw_count_non_negative')),
    sa.CheckConstraint('processed_at IS NULL OR collected_at IS NULL OR processed_at > collected_at', name=op.f('ck_samples_processed_after_collected')),
    sa.CheckConstraint('volume_ml IS NULL OR volume_ml >= 0', name=op.f('ck_samples_volume_non_negative')),
    sa.ForeignKeyConstraint(['collected_by_id'], ['users.id'], name=op.f('fk_samples_collected_by_id_users')),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_samples_collection_id_collections')),
    sa.ForeignKeyConstraint(['custody_site_id'], ['sites.id'], name=op.f('fk_samples_custody_site_id_sites')),
    sa.ForeignKeyConstraint(['label_kit_id'], ['label_kits.id'], name=op.f('fk_samples_label_kit_id_label_kits')),
    sa.ForeignKeyConstraint(['parent_id'], ['samples.id'], name=op.f('fk_samples_parent_id_samples')),
    sa.ForeignKeyConstraint(['processed_by_id'], ['users.id'], name=op.f('fk_samples_processed_by_id_users')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_samples_site_id_sites')),
    sa.ForeignKeyConstraint(['tube_type_id'], ['tube_types.id'], name=op.f('fk_samples_tube_type_id_tube_types')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_samples')),
    sa.UniqueConstraint('barcode', name=op.f('uq_samples_barcode'))
    )
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_samples_collection_id'), ['collection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_custody_site_id'), ['custody_site_id'], unique=False)
        batch_op.create_index('ix_samples_custody_site_id_status', ['custody_site_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_finalized_at'), ['finalized_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_label_kit_id'), ['label_kit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_parent_id'), ['parent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_site_id'), ['site_id'], unique=False)
        batch_op.create_index('ix_samples_site_id_status', ['site_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_samples_tube_type_id'), ['tube_type_id'], unique=False)

    op.create_table('events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('collection_id', sa.Integer(), nullable=True),
    sa.Column('shipment_id', sa.Integer(), nullable=True),
    sa.Column('container_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_events_actor_id_users')),
    sa.ForeignKeyConstraint(['collection_id'], ['collections.id'], name=op.f('fk_events_collection_id_collections')),
    sa.ForeignKeyConstraint(['container_id'], ['containers.id'], name=op.f('fk_events_container_id_containers')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_events_sample_id_samples')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_events_shipment_id_shipments')),
    sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_events_site_id_sites')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_events_hash'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_collection_id'), ['collection_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_container_id'), ['container_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_sample_id'), ['sample_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_shipment_id'), ['shipment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_type'), ['type'], unique=False)

    op.create_table('sample_flags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('early_processing', 'late_processing', 'haemolysed', 'clotted', 'under_filled', 'temperature_excursion', 'unexpected', 'late', 'received_after_cancel', 'damaged', 'disposal_required', name='flag_kind', native_enum=False, create_constraint=True, length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_sample_flags_created_by_id_users')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_sample_flags_sample_id_samples')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sample_flags')),
    sa.UniqueConstraint('sample_id', 'kind', name=op.f('uq_sample_flags_sample_id_kind'))
    )
    with op.batch_alter_table('sample_flags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sample_flags_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_sample_flags_sample_id'), ['sample_id'], unique=False)

    op.create_table('shipment_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shipment_id', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=False),
    sa.Column('manifested', sa.Boolean(), nullable=False),
    sa.Column('outcome', sa.Enum('received', 'missing', 'damaged', 'unexpected', name='item_outcome', native_enum=False, create_constraint=True, length=32), nullable=True),
    sa.Column('added_at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('added_by_id', sa.Integer(), nullable=False),
    sa.Column('scanned_at', biobank.db.UTCDateTime(), nullable=True),
    sa.Column('scanned_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['added_by_id'], ['users.id'], name=op.f('fk_shipment_items_added_by_id_users')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_shipment_items_sample_id_samples')),
    sa.ForeignKeyConstraint(['scanned_by_id'], ['users.id'], name=op.f('fk_shipment_items_scanned_by_id_users')),
    sa.ForeignKeyConstraint(['shipment_id'], ['shipments.id'], name=op.f('fk_shipment_items_shipment_id_shipments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shipment_items')),
    sa.UniqueConstraint('shipment_id', 'sample_id', name=op.f('uq_shipment_items_shipment_id_sample_id'))
    )
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shipment_items_sample_id'), ['sample_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_shipment_items_shipment_id'), ['shipment_id'], unique=False)

    op.create_table('storage_positions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('box_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.Integer(), nullable=False),
    sa.Column('col', sa.Integer(), nullable=False),
    sa.Column('sample_id', sa.Integer(), nullable=True),
    sa.Column('stored_at', biobank.db.UTCDateTime(), nullable=False),
    sa.Column('stored_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint('row >= 1 AND col >= 1', name=op.f('ck_storage_positions_position_in_grid')),
    sa.ForeignKeyConstraint(['box_id'], ['containers.id'], name=op.f('fk_storage_positions_box_id_containers')),
    sa.ForeignKeyConstraint(['sample_id'], ['samples.id'], name=op.f('fk_storage_positions_sample_id_samples')),
    sa.ForeignKeyConstraint(['stored_by_id'], ['users.id'], name=op.f('fk_storage_positions_stored_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_storage_positions')),
    sa.UniqueConstraint('box_id', 'row', 'col', name=op.f('uq_storage_positions_box_id_row_col')),
    sa.UniqueConstraint('sample_id', name=op.f('uq_storage_positions_sample_id'))
    )

    create_append_only_triggers()


def downgrade():
    drop_append_only_triggers()
    op.drop_table('storage_positions')
    with op.batch_alter_table('shipment_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipment_items_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_shipment_items_sample_id'))

    op.drop_table('shipment_items')
    with op.batch_alter_table('sample_flags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sample_flags_sample_id'))
        batch_op.drop_index(batch_op.f('ix_sample_flags_kind'))

    op.drop_table('sample_flags')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_type'))
        batch_op.drop_index(batch_op.f('ix_events_shipment_id'))
        batch_op.drop_index(batch_op.f('ix_events_sample_id'))
        batch_op.drop_index(batch_op.f('ix_events_container_id'))
        batch_op.drop_index(batch_op.f('ix_events_collection_id'))
        batch_op.drop_index(batch_op.f('ix_events_at'))

    op.drop_table('events')
    with op.batch_alter_table('samples', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_samples_tube_type_id'))
        batch_op.drop_index(batch_op.f('ix_samples_status'))
        batch_op.drop_index('ix_samples_site_id_status')
        batch_op.drop_index(batch_op.f('ix_samples_site_id'))
        batch_op.drop_index(batch_op.f('ix_samples_parent_id'))
        batch_op.drop_index(batch_op.f('ix_samples_label_kit_id'))
        batch_op.drop_index(batch_op.f('ix_samples_finalized_at'))
        batch_op.drop_index('ix_samples_custody_site_id_status')
        batch_op.drop_index(batch_op.f('ix_samples_custody_site_id'))
        batch_op.drop_index(batch_op.f('ix_samples_collection_id'))

    op.drop_table('samples')
    with op.batch_alter_table('collection_amendments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collection_amendments_collection_id'))

    op.drop_table('collection_amendments')
    with op.batch_alter_table('collections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_collections_status'))
        batch_op.drop_index(batch_op.f('ix_collections_site_id'))
        batch_op.drop_index(batch_op.f('ix_collections_participant_id'))
        batch_op.drop_index(batch_op.f('ix_collections_finalized_at'))

    op.drop_table('collections')
    with op.batch_alter_table('label_kits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_kits_batch_id'))

    op.drop_table('label_kits')
    with op.batch_alter_table('shipments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shipments_status'))
        batch_op.drop_index(batch_op.f('ix_shipments_origin_site_id'))
        batch_op.drop_index(batch_op.f('ix_shipments_dispatched_at'))
        batch_op.drop_index(batch_op.f('ix_shipments_destination_site_id'))

    op.drop_table('shipments')
    with op.batch_alter_table('label_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_label_batches_site_id'))

    op.drop_table('label_batches')
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_api_tokens_user_id'))

    op.drop_table('api_tokens')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_users_site_id'))

    op.drop_table('users')
    op.drop_table('kit_template_items')
    with op.batch_alter_table('containers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_containers_site_id'))
        batch_op.drop_index(batch_op.f('ix_containers_parent_id'))

    op.drop_table('containers')
    op.drop_table('tube_types')
    op.drop_table('sites')
    op.drop_table('kit_templates')


# The chain of custody is append-only in the database itself, not only in the app: an UPDATE or
# DELETE on events fails whoever sends it.
APPEND_ONLY_MESSAGE = "events are append-only: the chain of custody cannot be changed"


def create_append_only_triggers():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{APPEND_ONLY_MESSAGE} (% refused)', TG_OP;
            END
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
            "FOR EACH ROW EXECUTE FUNCTION events_append_only()"
        )
    elif dialect == "sqlite":
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{operation.lower()} BEFORE {operation} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
            )


def drop_append_only_triggers():
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS events_append_only()")
    elif dialect == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_no_update")
        op.execute("DROP TRIGGER IF EXISTS events_no_delete")
