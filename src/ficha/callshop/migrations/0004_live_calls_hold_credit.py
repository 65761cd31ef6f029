"""Live prepaid calls reserved credit in ``Call.reserved`` only; from now on a ledger hold
("call:<id>") sets it aside, seen by every debit. Give the calls live at upgrade theirs."""

from django.db import migrations


def holds_for_live_calls(apps, schema_editor):
    Call = apps.get_model("callshop", "Call")
    Hold = apps.get_model("ledger", "Hold")
    live = (Call.objects.filter(state__in=("reserved", "answered"), reserved__gt=0,
                                customer__isnull=False)
            .values_list("pk", "customer__credit_account_id", "reserved", "currency",
                         "started_at"))
    Hold.objects.bulk_create(
        [Hold(account_id=account, amount=amount, currency=currency,
              reference=f"call:{pk}", created_at=started)
         for pk, account, amount, currency, started in live],
        ignore_conflicts=True)


def release_them(apps, schema_editor):
    Hold = apps.get_model("ledger", "Hold")
    Hold.objects.filter(reference__startswith="call:").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("callshop", "0003_counter"),
        ("ledger", "0003_hold"),
    ]
    operations = [migrations.RunPython(holds_for_live_calls, release_them)]
