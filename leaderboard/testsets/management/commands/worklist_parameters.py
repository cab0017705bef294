"""``manage.py worklist_parameters SLUG [--set NAME=VALUE ...] [--reset]``: show or change the department the
triage impact of a test set simulates."""

import json

from django.core.management.base import BaseCommand, CommandError

from evaluator.worklist import WorklistParameters
from leaderboard.testsets.models import TestSet


def _value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # e.g. reading_time=fixed


class Command(BaseCommand):
    help = ("Show a test set's worklist parameters (arrivals_per_hour, reading_minutes, reading_time, readers, "
            "day_hours, target_minutes), or change them with --set NAME=VALUE (repeatable) or --reset (defaults). "
            "Evaluations scored from then on use them; earlier results keep the parameters they were scored with.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the test set's slug")
        parser.add_argument("--set", dest="changes", action="append", default=[], metavar="NAME=VALUE",
                            help="set one parameter (repeat for several)")
        parser.add_argument("--reset", action="store_true", help="forget every setting: the defaults apply")

    def handle(self, *args, slug, changes, reset, **options):
        testset = TestSet.objects.filter(slug=slug).first()
        if testset is None:
            raise CommandError(f"no test set with slug {slug!r}")
        settings = {} if reset else dict(testset.worklist_parameters or {})
        malformed = [change for change in changes if "=" not in change]
        if malformed:
            raise CommandError(f"expected NAME=VALUE, got: {', '.join(malformed)}")
        for change in changes:
            name, text = change.split("=", 1)
            settings[name.strip()] = _value(text.strip())
        try:
            parameters = WorklistParameters.from_dict(settings)
        except ValueError as problems:
            raise CommandError(str(problems)) from None
        if changes or reset:
            testset.worklist_parameters = settings
            testset.save(update_fields=["worklist_parameters"])
        for name, value in parameters.to_dict().items():
            origin = "set" if name in settings else "default"
            self.stdout.write(f"{name} = {value}  ({origin})")
        self.stdout.write(f"studies a day ≈ {parameters.studies_per_day:g}, readers busy {parameters.utilisation:.0%} "
                          "of the day on average")
