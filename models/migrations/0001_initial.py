from tortoise import migrations
from tortoise.migrations import operations as ops
from decimal import Decimal
from models.account import ApiScope, StaffRole
from models.membership import MembershipStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('marketplace_id', fields.BigIntField(null=True, db_index=True)),
                ('topic', fields.CharField(max_length=64)),
                ('object_type', fields.CharField(max_length=64)),
                ('object_id', fields.BigIntField()),
                ('audience', fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ('payload', fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A change that viewers may see. Its id is monotonic: it is the subscription cursor.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Marketplace',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('slug', fields.CharField(unique=True, max_length=64)),
                ('dispatch_enabled', fields.BooleanField(default=True)),
                ('proposals_required', fields.IntField(default=3)),
                ('days_before_sending', fields.IntField(default=3)),
                ('days_before_reminder', fields.IntField(default=2)),
                ('max_reminder_rounds', fields.IntField(default=3)),
                ('default_commission_rate', fields.DecimalField(default=Decimal('15.00'), max_digits=5, decimal_places=2)),
                ('direct_messages_allowed', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'marketplace', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ProviderCompany',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(max_length=200)),
                ('siret', fields.CharField(default='', max_length=14)),
                ('email', fields.CharField(default='', max_length=254)),
                ('phone', fields.CharField(default='', max_length=32)),
                ('listed_in_directory', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'provider_company', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Membership',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('marketplace', fields.ForeignKeyField('models.Marketplace', source_field='marketplace_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('company', fields.ForeignKeyField('models.ProviderCompany', source_field='company_id', db_constraint=True, to_field='id', related_name='memberships', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(db_index=True, description='INVITED: INVITED\nAPPLIED: APPLIED\nACCEPTED: ACCEPTED\nREFUSED: REFUSED\nSUSPENDED: SUSPENDED\nDEACTIVATED: DEACTIVATED\nDELETED: DELETED', enum_type=MembershipStatus, max_length=16)),
                ('terms_version_accepted', fields.IntField(null=True)),
                ('applied_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('decided_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'membership', 'app': 'models', 'unique_together': (('marketplace', 'company'),), 'pk_attr': 'id', 'table_description': 'The relationship between one marketplace and one provider company.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('email', fields.CharField(unique=True, max_length=254)),
                ('password_hash', fields.CharField(max_length=255)),
                ('full_name', fields.CharField(default='', max_length=200)),
                ('is_platform_admin', fields.BooleanField(default=False)),
                ('is_active', fields.BooleanField(default=True)),
                ('provider_company', fields.ForeignKeyField('models.ProviderCompany', source_field='provider_company_id', null=True, db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'account_user', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ApiKey',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('marketplace', fields.ForeignKeyField('models.Marketplace', source_field='marketplace_id', db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.CASCADE)),
                ('name', fields.CharField(max_length=100)),
                ('prefix', fields.CharField(unique=True, max_length=16)),
                ('secret_hash', fields.CharField(max_length=64)),
                ('scope', fields.CharEnumField(description='READ: READ\nREAD_WRITE: READ_WRITE', enum_type=ApiScope, max_length=16)),
                ('created_by', fields.ForeignKeyField('models.User', source_field='created_by_id', null=True, db_constraint=True, to_field='id', related_name='api_keys', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_used_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'account_api_key', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Client',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('marketplace', fields.ForeignKeyField('models.Marketplace', source_field='marketplace_id', db_constraint=True, to_field='id', related_name='clients', on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='client_of', on_delete=OnDelete.SET_NULL)),
                ('full_name', fields.CharField(max_length=200)),
                ('email', fields.CharField(max_length=254)),
                ('phone', fields.CharField(default='', max_length=32)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'account_client', 'app': 'models', 'unique_together': (('marketplace', 'email'),), 'pk_attr': 'id', 'table_description': 'An end customer of one marketplace (optionally with a login).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='MembershipAudit',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('membership', fields.ForeignKeyField('models.Membership', source_field='membership_id', db_constraint=True, to_field='id', related_name='audit', on_delete=OnDelete.CASCADE)),
                ('actor', fields.ForeignKeyField('models.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name='+', on_delete=OnDelete.SET_NULL)),
                ('from_status', fields.CharEnumField(null=True, description='INVITED: INVITED\nAPPLIED: APPLIED\nACCEPTED: ACCEPTED\nREFUSED: REFUSED\nSUSPENDED: SUSPENDED\nDEACTIVATED: DEACTIVATED\nDELETED: DELETED', enum_type=MembershipStatus, max_length=16)),
                ('to_status', fields.CharEnumField(description='INVITED: INVITED\nAPPLIED: APPLIED\nACCEPTED: ACCEPTED\nREFUSED: REFUSED\nSUSPENDED: SUSPENDED\nDEACTIVATED: DEACTIVATED\nDELETED: DELETED', enum_type=MembershipStatus, max_length=16)),
                ('reason', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'membership_audit', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Append-only trail of status changes: who, when, from, to, why.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='RefreshToken',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='refresh_tokens', on_delete=OnDelete.CASCADE)),
                ('family', fields.UUIDField(db_index=True)),
                ('token_hash', fields.CharField(unique=True, max_length=64)),
                ('expires_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('rotated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('revoked_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'account_refresh_token', 'app': 'models', 'pk_attr': 'id', 'table_description': 'One refresh token of a rotation family. Reusing a rotated one revokes the family.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StaffMember',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='staff_roles', on_delete=OnDelete.CASCADE)),
                ('marketplace', fields.ForeignKeyField('models.Marketplace', source_field='marketplace_id', db_constraint=True, to_field='id', related_name='staff', on_delete=OnDelete.CASCADE)),
                ('role', fields.CharEnumField(description='ADMIN: ADMIN\nAGENT: AGENT', enum_type=StaffRole, max_length=16)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'account_staff_member', 'app': 'models', 'unique_together': (('user', 'marketplace'),), 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
