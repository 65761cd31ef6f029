"""Unicode-folded unique usernames (customers and staff), device keys and the PIN lock.

Names that only differ beyond ASCII case ("É-Ω" / "é-ω") could both exist on SQLite;
the later one is renamed "<name>-<id>" so that the new unique key holds (and logged).
"""

import unicodedata

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def _key(name):
    folded = unicodedata.normalize("NFKC", str(name).strip()).casefold()
    return unicodedata.normalize("NFKC", folded)[:600]


def fill_customer_keys(apps, schema_editor):
    Customer = apps.get_model("accounts", "Customer")
    seen = set()
    for customer in Customer.objects.order_by("pk").only("pk", "username"):
        key = _key(customer.username)
        if key in seen:
            customer.username = f"{customer.username[:140]}-{customer.pk}"
            key = _key(customer.username)
            print(f"\n  customer {customer.pk} renamed to {customer.username!r} "
                  "(its name clashed with another beyond ASCII case)")
        seen.add(key)
        Customer.objects.filter(pk=customer.pk).update(username=customer.username,
                                                       username_key=key)


def fill_staff_profiles(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    StaffProfile = apps.get_model("accounts", "StaffProfile")
    seen = set()
    for user in User.objects.order_by("pk").only("pk", "username"):
        key = _key(user.username)
        if key in seen:  # cannot rename a login here; the later one keeps a distinct key
            key = f"{key}#{user.pk}"
        seen.add(key)
        StaffProfile.objects.create(user_id=user.pk, username_key=key)


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_api_token"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="customer", name="username_key",
            field=models.CharField(max_length=600, null=True),
        ),
        migrations.AddField(
            model_name="customer", name="pin_locked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="customer", name="device_key",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.RunPython(fill_customer_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="customer", name="username_key",
            field=models.CharField(max_length=600, unique=True),
        ),
        migrations.RemoveConstraint(model_name="customer", name="customer_username_ci_unique"),
        migrations.CreateModel(
            name="StaffProfile",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                           verbose_name="ID")),
                ("username_key", models.CharField(max_length=600, unique=True)),
                ("session_key", models.CharField(blank=True, default="", max_length=32)),
                ("user", models.OneToOneField(on_delete=django.db.models.deletion.CASCADE,
                                              related_name="ficha_profile",
                                              to=settings.AUTH_USER_MODEL)),
            ],
        ),
        migrations.RunPython(fill_staff_profiles, migrations.RunPython.noop),
    ]
