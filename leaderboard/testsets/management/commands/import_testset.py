"""``manage.py import_testset DIR``: check a test-set directory and store it as a new label version."""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluator.problems import InvalidInput
from leaderboard.submissions.models import Submission
from leaderboard.submissions.services import request_rescore
from leaderboard.testsets.models import FeedbackPolicy, TestSet
from leaderboard.testsets.services import ImportRefused, import_label_version


class Command(BaseCommand):
    help = ("Import a test set directory (the scoring core's layout, see docs/testset.md) into private storage as a "
            "label version. Every problem of the directory is listed. Importing new labels of a test set offers "
            "to re-score its submissions; results on older labels stay tagged with them.")

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("--sample", action="store_true",
                            help="a sample set: its labels are public and it can be downloaded whole")
        parser.add_argument("--not-current", action="store_true",
                            help="keep the current label version; the board and new uploads stay on it")
        parser.add_argument("--notes", default="", help="what changed compared with the previous labels")
        parser.add_argument("--workers", type=int, default=1, help="processes for checking the label volumes")
        parser.add_argument("--feedback-policy", choices=FeedbackPolicy.values, default=None,
                            help="set the test set's feedback policy (default for a new benchmark: split_ladder "
                                 "with the guard; see docs/integrity.md)")
        rescore = parser.add_mutually_exclusive_group()
        rescore.add_argument("--rescore", action="store_true", help="re-score all submissions without asking")
        rescore.add_argument("--no-rescore", action="store_true", help="do not re-score, do not ask")

    def handle(self, *args, directory, sample, not_current, notes, workers, rescore, no_rescore, feedback_policy,
               **options):
        kind = TestSet.Kind.SAMPLE if sample else TestSet.Kind.BENCHMARK
        try:
            result = import_label_version(directory, kind=kind, make_current=not not_current,
                                          imported_by="manage.py import_testset", notes=notes, workers=workers)
        except InvalidInput as invalid:
            raise CommandError(invalid.report()) from None
        except ImportRefused as refused:
            raise CommandError(str(refused)) from None
        version = result.label_version
        if feedback_policy:
            testset = version.testset
            testset.feedback_policy = feedback_policy
            testset.save(update_fields=["feedback_policy"])
            self.stdout.write(f"feedback policy of {testset.slug}: {feedback_policy}")
        if not result.created:
            self.stdout.write(f"already imported: {version} (nothing changed)")
            return
        self.stdout.write(self.style.SUCCESS(
            f"imported {version}: {version.n_cases} cases ({version.n_public_cases} public, "
            f"{version.n_private_cases} private){'; current' if version.is_current else ''}"))
        if kind == TestSet.Kind.SAMPLE or not version.is_current:
            return
        submissions = Submission.objects.filter(testset=version.testset).exclude(evaluations__label_version=version)
        count = submissions.count()
        if not count or no_rescore:
            return
        if not rescore:
            if not options.get("interactive", True) or not sys.stdin.isatty():
                self.stdout.write(f"{count} submission(s) were scored on older labels; re-score them with "
                                  f"`manage.py rescore --all` when ready")
                return
            answer = input(f"Re-score {count} submission(s) on the new labels now? [y/N] ")
            if answer.strip().lower() not in ("y", "yes"):
                return
        report = request_rescore(submissions.select_related("testset"), label_version=version,
                                 requested_by="manage.py import_testset")
        self.stdout.write(f"queued {len(report.created)} evaluation(s) on the new labels")

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive",
                            help="never prompt")
        return parser
