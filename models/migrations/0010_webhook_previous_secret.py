from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_terms_grace_public_applications_colleagues')]

    initial = False

    operations = [
        ops.AddField(
            model_name='WebhookEndpoint',
            name='previous_sealed_secret',
            field=fields.CharField(null=True, max_length=255),
        ),
        ops.AddField(
            model_name='WebhookEndpoint',
            name='previous_secret_expires_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
