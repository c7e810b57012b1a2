from tortoise import migrations
from tortoise.migrations import operations as ops
from models.document import DocumentReviewStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0005_user_locale')]

    initial = False

    operations = [
        ops.CreateModel(
            name='DocumentReview',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('document', fields.ForeignKeyField('models.Document', source_field='document_id', db_constraint=True, to_field='id', related_name='reviews', on_delete=OnDelete.CASCADE)),
                ('marketplace', fields.ForeignKeyField('models.Marketplace', source_field='marketplace_id', db_constraint=True, to_field='id', related_name='document_reviews', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(description='APPROVED: APPROVED\nREJECTED: REJECTED', enum_type=DocumentReviewStatus, max_length=16)),
                ('reason', fields.TextField(default='', unique=False)),
                ('reviewed_by', fields.ForeignKeyField('models.User', source_field='reviewed_by_id', null=True, db_constraint=True, to_field='id', related_name='document_reviews', on_delete=OnDelete.SET_NULL)),
                ('reviewed_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'document_review', 'app': 'models', 'unique_together': (('document', 'marketplace'),), 'pk_attr': 'id', 'table_description': "A marketplace staff's latest decision on a company document, for that marketplace."},
            bases=['Model'],
        ),
    ]
