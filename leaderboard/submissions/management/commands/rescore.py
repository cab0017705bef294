"""``manage.py rescore [--reference | --all | IDS…] [--label-version V]``: queue evaluations with the current scorer."""

from django.core.management.base import BaseCommand, CommandError

from leaderboard.submissions.models import Submission
from leaderboard.submissions.services import request_rescore
from leaderboard.testsets.models import LabelVersion


def find_label_version(text: str) -> LabelVersion:
    """``V``: a label version id, ``<test set slug>:<version>``, or a prefix (≥ 6 hex digits) of the labels digest."""
    versions = LabelVersion.objects.select_related("testset")
    if text.isdigit() and versions.filter(pk=int(text)).exists():
        return versions.get(pk=int(text))
    if ":" in text:
        slug, version = text.split(":", 1)
        found = versions.filter(testset__slug=slug, version=version).first()
        if found:
            return found
    if len(text) >= 6:
        matches = list(versions.filter(labels_digest__startswith=text.lower())[:2])
        if len(matches) == 1:
            return matches[0]
    raise CommandError(f"no label version {text!r}; give its id, <testset>:<version> or a digest prefix "
                       f"(known: {', '.join(f'{v.pk}={v.testset.slug}:{v.version}' for v in versions) or 'none'})")


class Command(BaseCommand):
    help = ("Queue evaluations of submissions with the current scorer on a label version (default: each "
            "submission's current labels). Failed evaluations are re-queued; done and pending ones are kept, so "
            "running it twice queues nothing new.")

    def add_arguments(self, parser):
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("ids", nargs="*", type=int, default=[], help="submission ids")
        which.add_argument("--reference", action="store_true", help="all reference entries")
        which.add_argument("--all", action="store_true", help="every submission")
        parser.add_argument("--label-version", help="id, <testset>:<version> or digest prefix")

    def handle(self, *args, ids, reference, all, label_version, **options):
        if not (ids or reference or all):
            raise CommandError("say which submissions: IDS, --reference or --all")
        submissions = Submission.objects.select_related("testset").order_by("pk")
        if reference:
            submissions = submissions.filter(is_reference=True)
        elif ids:
            submissions = submissions.filter(pk__in=ids)
            missing = sorted(set(ids) - set(submissions.values_list("pk", flat=True)))
            if missing:
                raise CommandError(f"no submission(s) {', '.join(map(str, missing))}")
        target = find_label_version(label_version) if label_version else None
        if target is not None:
            submissions = submissions.filter(testset=target.testset)
        report = request_rescore(submissions, label_version=target, requested_by="manage.py rescore")
        for submission, why in report.skipped:
            self.stdout.write(f"skipped submission {submission.pk}: {why}")
        self.stdout.write(self.style.SUCCESS(f"queued {len(report.created)} new evaluation(s), re-queued "
                                             f"{len(report.requeued)} failed one(s), skipped {len(report.skipped)}"))
