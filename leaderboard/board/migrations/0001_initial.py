from django.db import migrations, models
import django.utils.timezone


class Migration(migrations.Migration):

    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="BoardChange",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("at", models.DateTimeField(default=django.utils.timezone.now, help_text="When the change was made.")),
                ("what", models.CharField(help_text="The model that changed.", max_length=60)),
            ],
            options={"verbose_name": "board change"},
        ),
    ]
