from tortoise import migrations
from tortoise.migrations import operations as ops
from models.notification import NotificationKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0006_document_review')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(max_length=128)),
                ('kind', fields.CharEnumField(description='VISIT_SCHEDULED: VISIT_SCHEDULED\nVISIT_MOVED: VISIT_MOVED\nVISIT_CANCELLED: VISIT_CANCELLED\nSERVICE_ACCEPTED: SERVICE_ACCEPTED\nSERVICE_REJECTED: SERVICE_REJECTED\nAPPLICATION_RECEIVED: APPLICATION_RECEIVED\nDOCUMENT_EXPIRING: DOCUMENT_EXPIRING\nDOCUMENT_EXPIRED: DOCUMENT_EXPIRED\nUNREAD_MESSAGES: UNREAD_MESSAGES', enum_type=NotificationKind, max_length=32)),
                ('marketplace_id', fields.BigIntField(null=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', null=True, db_constraint=True, to_field='id', related_name='notifications', on_delete=OnDelete.CASCADE)),
                ('email', fields.CharField(max_length=254)),
                ('title', fields.CharField(max_length=300)),
                ('body', fields.TextField(default='', unique=False)),
                ('object_type', fields.CharField(max_length=64)),
                ('object_id', fields.BigIntField()),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('emailed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notification', 'app': 'models', 'unique_together': (('key', 'email'),), 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id', 'table_description': 'One person told about one fact. Unique per fact and address: a retried job neither'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotificationPreference',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('models.User', source_field='user_id', db_constraint=True, to_field='id', related_name='notification_preferences', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharEnumField(description='VISIT_SCHEDULED: VISIT_SCHEDULED\nVISIT_MOVED: VISIT_MOVED\nVISIT_CANCELLED: VISIT_CANCELLED\nSERVICE_ACCEPTED: SERVICE_ACCEPTED\nSERVICE_REJECTED: SERVICE_REJECTED\nAPPLICATION_RECEIVED: APPLICATION_RECEIVED\nDOCUMENT_EXPIRING: DOCUMENT_EXPIRING\nDOCUMENT_EXPIRED: DOCUMENT_EXPIRED\nUNREAD_MESSAGES: UNREAD_MESSAGES', enum_type=NotificationKind, max_length=32)),
                ('email', fields.BooleanField(default=True)),
            ],
            options={'table': 'notification_preference', 'app': 'models', 'unique_together': (('user', 'kind'),), 'pk_attr': 'id', 'table_description': "A user's choice for one kind; no row: e-mail on. Live notifications are always on."},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Participant',
            name='notified_message_id',
            field=fields.BigIntField(default=0),
        ),
    ]
