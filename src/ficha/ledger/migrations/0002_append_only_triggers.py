from django.db import migrations

from ficha.ledger import guard


def install(apps, schema_editor):
    for sql in guard.install_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql)


def uninstall(apps, schema_editor):
    for sql in guard.uninstall_sql(schema_editor.connection.vendor):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [migrations.RunPython(install, uninstall)]
