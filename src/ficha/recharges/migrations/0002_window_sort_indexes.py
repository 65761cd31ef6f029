from django.db import migrations, models


class Migration(migrations.Migration):
    """(date, id) indexes: the recharges window sorts by a date without sorting codes."""

    dependencies = [
        ("recharges", "0001_initial"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="recharge", name="recharge_expires"),
        migrations.RemoveIndex(model_name="recharge", name="recharge_sold_at"),
        migrations.RemoveIndex(model_name="recharge", name="recharge_used_at"),
        migrations.AddIndex(
            model_name="recharge",
            index=models.Index(fields=["expires_at", "id"], name="recharge_expires_id"),
        ),
        migrations.AddIndex(
            model_name="recharge",
            index=models.Index(fields=["status", "expires_at", "id"],
                               name="recharge_status_expires"),
        ),
        migrations.AddIndex(
            model_name="recharge",
            index=models.Index(condition=models.Q(("sold_at__isnull", False)),
                               fields=["sold_at", "id", "status", "amount"],
                               name="recharge_sold_id"),
        ),
        migrations.AddIndex(
            model_name="recharge",
            index=models.Index(condition=models.Q(("used_at__isnull", False)),
                               fields=["used_at", "id", "status", "amount"],
                               name="recharge_used_id"),
        ),
    ]
