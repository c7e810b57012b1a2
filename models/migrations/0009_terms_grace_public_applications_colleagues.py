from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_clients')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ColleagueInvitation',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('company', fields.ForeignKeyField('models.ProviderCompany', source_field='company_id', db_constraint=True, to_field='id', related_name='colleague_invitations', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=254)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('token_nonce', fields.CharField(max_length=64)),
                ('invited_by', fields.ForeignKeyField('models.User', source_field='invited_by_id', null=True, db_constraint=True, to_field='id', related_name='colleague_invitations', on_delete=OnDelete.SET_NULL)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('accepted_by', fields.ForeignKeyField('models.User', source_field='accepted_by_id', null=True, db_constraint=True, to_field='id', related_name='accepted_colleague_invitations', on_delete=OnDelete.SET_NULL)),
                ('accepted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'colleague_invitation', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A provider user invites a colleague to the company account; single use, expires.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Marketplace',
            name='public_application_token',
            field=fields.CharField(null=True, unique=True, max_length=64),
        ),
        ops.AddField(
            model_name='Marketplace',
            name='public_applications_enabled',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Marketplace',
            name='terms_grace_days',
            field=fields.IntField(default=30),
        ),
        ops.AddField(
            model_name='Membership',
            name='terms_overdue_notified',
            field=fields.IntField(null=True),
        ),
    ]
