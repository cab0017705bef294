"""``manage.py submit_reference ARCHIVE --method NAME``: a maintainers' re-scored reference entry."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leaderboard.accounts.models import Team
from leaderboard.accounts.services import unique_team_slug
from leaderboard.submissions.models import Track
from leaderboard.submissions.services import SubmissionMeta, SubmissionRejected, submit_archive
from leaderboard.testsets.models import ReportedResult
from leaderboard.testsets.services import default_benchmark

REFERENCE_TEAM = "Reference implementations"


class Command(BaseCommand):
    help = ("Submit a prediction archive of one of the paper's methods as a reference entry (badged on the board, "
            "shown beside the paper's reported numbers, outside any quota). Container-track references are "
            "archives with predictions for every case, public and private.")

    def add_arguments(self, parser):
        parser.add_argument("archive", type=Path)
        parser.add_argument("--method", required=True, help="method name; matched to a row of the paper's Table 2")
        parser.add_argument("--track", choices=[t.value for t in Track], default=Track.ARCHIVE)
        parser.add_argument("--testset", help="test set slug (default: the site's benchmark)")
        parser.add_argument("--team", default=REFERENCE_TEAM, help="team that owns reference entries")
        parser.add_argument("--description", default="")
        parser.add_argument("--code-url", default="")
        parser.add_argument("--private", action="store_true", help="keep it off the public board")

    def handle(self, *args, archive, method, track, testset, team, description, code_url, private, **options):
        benchmark = default_benchmark(testset)
        if benchmark is None:
            raise CommandError("no benchmark test set with current labels; import one first")
        reported = ReportedResult.objects.filter(method__iexact=method).first()
        if reported is None:
            rows = ", ".join(ReportedResult.objects.values_list("method", flat=True))
            self.stderr.write(f"note: no row of the paper's Table 2 is called {method!r}; the entry is shown without "
                              f"reported numbers (rows: {rows})")
        owner = Team.objects.filter(name=team).first() or Team.objects.create(name=team, slug=unique_team_slug(team))
        meta = SubmissionMeta(method_name=method, description=description or "Reference implementation re-scored "
                                                                               "by the maintainers.",
                              code_url=code_url, is_public=not private)
        try:
            with open(archive, "rb") as handle:
                submission = submit_archive(team=owner, user=None, handle=handle, file_name=archive.name, meta=meta,
                                            testset=benchmark, track=track, reference=reported, is_reference=True)
        except OSError as error:
            raise CommandError(f"cannot read {archive}: {error}") from None
        except SubmissionRejected as rejected:
            raise CommandError("\n".join(str(p) for p in rejected.problems)) from None
        self.stdout.write(self.style.SUCCESS(f"reference submission {submission.pk} queued ({track} track)"))
