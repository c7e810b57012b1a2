from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='IdempotencyKey',
            options={'table': 'idempotency_key', 'app': 'models', 'unique_together': (('principal', 'key'),), 'pk_attr': 'id', 'table_description': "A creating mutation run under its caller's Idempotency-Key, and the response it gave."},
        ),
    ]
