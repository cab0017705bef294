"""``manage.py feedback``: the feedback policy of benchmarks (docs/integrity.md).

- ``feedback status [SLUG]``: active policy and phase, and per team its submissions, how many count toward the
  quota, how many were scored, withheld by the guard, and chosen for the final ranking;
- ``feedback phase SLUG final|closed|open``: move a benchmark to the next phase (closing scores the final
  ranking on the held-out cases);
- ``feedback policy SLUG [--policy P] [--guard|--no-guard] [--eta X] [--split-fraction X] [--final-selections N]``.
"""

from django.core.management.base import BaseCommand, CommandError

from leaderboard.testsets.feedback_report import policy_line, team_counts
from leaderboard.testsets.models import FeedbackPolicy, Phase, TestSet
from leaderboard.testsets.phases import PhaseRefused, change_phase


class Command(BaseCommand):
    help = "Report and change the feedback policy and phase of benchmarks (docs/integrity.md)."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="policy, phase and per-team submission counts")
        status.add_argument("slug", nargs="?")
        phase = sub.add_parser("phase", help="move a benchmark to another phase")
        phase.add_argument("slug")
        phase.add_argument("target", choices=Phase.values)
        policy = sub.add_parser("policy", help="change the feedback policy of a benchmark")
        policy.add_argument("slug")
        policy.add_argument("--policy", choices=FeedbackPolicy.values)
        policy.add_argument("--guard", action="store_true", default=None)
        policy.add_argument("--no-guard", dest="guard", action="store_false")
        policy.add_argument("--eta", type=float)
        policy.add_argument("--split-fraction", type=float)
        policy.add_argument("--final-selections", type=int)

    def _testset(self, slug: str) -> TestSet:
        testset = TestSet.objects.filter(slug=slug, kind=TestSet.Kind.BENCHMARK).first()
        if testset is None:
            raise CommandError(f"no benchmark called {slug!r}")
        return testset

    def handle(self, *args, action, **options):
        if action == "status":
            testsets = ([self._testset(options["slug"])] if options["slug"]
                        else TestSet.objects.filter(kind=TestSet.Kind.BENCHMARK).order_by("slug"))
            for testset in testsets:
                self.stdout.write(policy_line(testset))
                self.stdout.write(f"  {'team':30} {'submitted':>9} {'counted':>8} {'scored':>7} {'withheld':>9} "
                                  f"{'final':>6}")
                for row in team_counts(testset):
                    self.stdout.write(f"  {row.team[:30]:30} {row.submissions:>9} {row.counted:>8} {row.scored:>7} "
                                      f"{row.withheld:>9} {row.final_choices:>6}")
        elif action == "phase":
            try:
                testset = change_phase(self._testset(options["slug"]), options["target"])
            except PhaseRefused as refused:
                raise CommandError(str(refused)) from None
            self.stdout.write(self.style.SUCCESS(policy_line(testset)))
        else:
            testset = self._testset(options["slug"])
            changes = {"feedback_policy": options["policy"], "feedback_guard": options["guard"],
                       "ladder_eta": options["eta"], "split_fraction": options["split_fraction"],
                       "final_selections": options["final_selections"]}
            for name, value in changes.items():
                if value is not None:
                    setattr(testset, name, value)
            testset.full_clean()
            testset.save()
            self.stdout.write(self.style.SUCCESS(policy_line(testset)))
