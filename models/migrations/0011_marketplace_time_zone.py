from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_webhook_previous_secret')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Marketplace',
            name='time_zone',
            field=fields.CharField(default='Europe/Paris', max_length=64),
        ),
    ]
