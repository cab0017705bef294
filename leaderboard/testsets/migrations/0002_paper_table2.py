from django.db import migrations


def load(apps, schema_editor):
    from leaderboard.testsets.paper import load_into

    load_into(apps.get_model("testsets", "ReportedResult"))


def unload(apps, schema_editor):
    apps.get_model("testsets", "ReportedResult").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("testsets", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
