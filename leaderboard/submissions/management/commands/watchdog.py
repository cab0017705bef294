"""``manage.py watchdog``: one watchdog pass (Celery beat runs the same periodically)."""

from django.core.management.base import BaseCommand

from leaderboard.submissions.watchdog import watchdog_pass


class Command(BaseCommand):
    help = "Re-queue evaluations whose worker died, fail those out of attempts, re-send lost task messages."

    def handle(self, *args, **options):
        self.stdout.write(str(watchdog_pass(who="manage.py watchdog")))
