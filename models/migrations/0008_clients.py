from tortoise import migrations
from tortoise.migrations import operations as ops
from models.consent import ConsentChannel
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0007_notifications')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ClientConsentRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client', fields.ForeignKeyField('models.Client', source_field='client_id', db_constraint=True, to_field='id', related_name='consent_records', on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharEnumField(description='EMAIL: EMAIL\nSMS: SMS\nPHONE: PHONE', enum_type=ConsentChannel, max_length=8)),
                ('granted', fields.BooleanField()),
                ('wording_version', fields.CharField(max_length=64)),
                ('source', fields.CharField(max_length=64)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='client_consent_records', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'client_consent_record', 'app': 'models', 'indexes': [Index(fields=['client_id', 'channel', 'id'])], 'pk_attr': 'id', 'table_description': "One grant or withdrawal of a client's marketing consent, never updated: the audit trail."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Client',
            name='created_by',
            field=fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='created_clients', on_delete=OnDelete.SET_NULL),
        ),
        ops.AddField(
            model_name='Client',
            name='erased_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Client',
            name='invitation_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Client',
            name='invitation_hash',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Client',
            name='invitation_nonce',
            field=fields.CharField(null=True, max_length=64),
        ),
        ops.AddField(
            model_name='Client',
            name='invitation_sent_count',
            field=fields.IntField(default=0),
        ),
        ops.AddIndex(
            model_name='Client',
            index=Index(fields=['marketplace_id', 'id']),
        ),
        # The staff `clients(search:)` filter is `UPPER(CAST(col AS VARCHAR)) LIKE UPPER($n)`
        # (tortoise's icontains): trigram indexes on those very expressions answer a rare term
        # without reading every client of the marketplace (bench/clients.py).
        ops.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS pg_trgm;"
            + "".join(
                f'CREATE INDEX account_client_{col}_trgm ON account_client USING gin '
                f'((UPPER(CAST("{col}" AS VARCHAR))) gin_trgm_ops);'
                for col in ('full_name', 'email', 'phone')
            ),
            reverse_sql="".join(
                f'DROP INDEX IF EXISTS account_client_{col}_trgm;'
                for col in ('full_name', 'email', 'phone')
            ),
        ),
    ]
