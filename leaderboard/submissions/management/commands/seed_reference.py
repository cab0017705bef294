"""``manage.py seed_reference``: the paper's methods as the board's reference entries, scored like any team's.

For each method of Table 2 and each track, the command trains (or loads cached) weights, predicts the
installed test set with ``reference_models`` and submits the archive through the normal scoring path as a
badged reference entry. No number is typed in: every value on the board comes from the scorer.

All methods predict the test set in one pass (each image read and its lungs segmented once; every case, for
the container track); the archive track's entry gets the same predictions restricted to the public cases.
``--shipped`` uses the small-scale weights shipped in the repository (``reference_weights/``, checked against its
manifest first; what ``scripts/demo`` uses) and never trains.

Re-running it is cheap and safe: an existing reference entry of a method and track is re-scored on the current
label version (a new evaluation; old results stay tagged with the version they were scored on) instead of
being submitted again; ``--regenerate`` predicts anew and submits a fresh entry (needed when the images, not
only the labels, changed).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluator.archive.writer import restrict_archive
from evaluator.testset import load_testset
from leaderboard.accounts.models import Team
from leaderboard.accounts.services import unique_team_slug
from leaderboard.submissions.management.commands.submit_reference import REFERENCE_TEAM
from leaderboard.submissions.models import Submission, Track
from leaderboard.submissions.services import SubmissionMeta, SubmissionRejected, request_rescore, submit_archive
from leaderboard.testsets.models import ReportedResult
from leaderboard.testsets.services import default_benchmark, testset_directory

TRIAGE_METHODS = ("thresholding", "unet2d", "unet3d", "unet2d_plus", "resnet50", "multitask_latent",
                  "multitask_spatial4", "multitask_spatial1")


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser):
        parser.add_argument("--methods", nargs="+", choices=TRIAGE_METHODS, default=list(TRIAGE_METHODS))
        parser.add_argument("--tracks", nargs="+", choices=[t.value for t in Track],
                            default=[Track.ARCHIVE.value, Track.CONTAINER.value])
        parser.add_argument("--testset", help="test set slug (default: the site's benchmark)")
        parser.add_argument("--weights-dir", type=Path, help="cached weights (default DATA_DIR/reference-weights)")
        parser.add_argument("--shipped", action="store_true",
                            help="the weights in reference_weights/ (checked against its manifest; no training)")
        parser.add_argument("--scale", default="small", help="network scale: tiny | small | paper (see docs)")
        parser.add_argument("--steps", type=int,
                            help="training batches per network (default: the benchmark's schedule)")
        parser.add_argument("--lung-steps", type=int,
                            help="training batches of the lung network every method crops with (default: --steps)")
        parser.add_argument("--device", default="auto", help="cpu | cuda | auto")
        parser.add_argument("--no-train", action="store_true", help="fail instead of training missing weights")
        parser.add_argument("--regenerate", action="store_true", help="predict again and submit fresh entries")
        parser.add_argument("--workers", type=int, default=1,
                            help="prediction processes of one torch thread each (default 1: this process)")

    def handle(self, *args, methods, tracks, testset, weights_dir, shipped, scale, steps, lung_steps, device,
               no_train, regenerate, workers, **options):
        from reference_models.pipeline import run_references
        from reference_models.registry import METHODS
        from reference_models.shipped import SHIPPED_DIR, read_manifest, verify_shipped

        if workers < 1:
            raise CommandError(f"--workers must be at least 1, got {workers}")
        manifest = None
        if shipped:
            if weights_dir is not None or steps is not None or lung_steps is not None:
                raise CommandError("--shipped uses reference_weights/ as trained: no --weights-dir, --steps or "
                                   "--lung-steps")
            problems = verify_shipped(SHIPPED_DIR)
            if problems:
                raise CommandError("the shipped reference weights are not usable: " + "; ".join(problems))
            manifest = read_manifest(SHIPPED_DIR)
            weights_dir, scale, no_train = SHIPPED_DIR, manifest["scale"], True

        benchmark = default_benchmark(testset)
        if benchmark is None:
            raise CommandError("no benchmark test set with current labels; run manage.py import_testset first")
        label_version = benchmark.current_label_version()
        weights_dir = weights_dir or Path(settings.DATA_DIR) / "reference-weights"
        out_dir = Path(settings.DATA_DIR) / "reference-archives" / label_version.labels_digest[:16]
        out_dir.mkdir(parents=True, exist_ok=True)
        owner = (Team.objects.filter(name=REFERENCE_TEAM).first()
                 or Team.objects.create(name=REFERENCE_TEAM, slug=unique_team_slug(REFERENCE_TEAM)))
        to_submit: list[tuple[str, str]] = []
        for method in methods:
            title = METHODS[method].title
            for track in tracks:
                existing = (Submission.objects.filter(team=owner, testset=benchmark, track=track, method_name=title,
                                                      is_reference=True).order_by("-pk").first())
                if existing is not None and not regenerate:
                    report = request_rescore([existing], label_version=label_version,
                                             requested_by="manage.py seed_reference")
                    state = "re-scoring" if report.created or report.requeued else "up to date"
                    self.stdout.write(f"{title} ({track}): {state} (submission {existing.pk})")
                else:
                    to_submit.append((method, track))
        if not to_submit:
            return
        directory = testset_directory(label_version)
        every_case = {method: out_dir / f"{method}-{Track.CONTAINER.value}.zip" for method, _ in to_submit}
        to_predict = [m for m in every_case if regenerate or not every_case[m].is_file()]
        if to_predict:
            self.stdout.write(f"predicting every case of {label_version} with "
                              f"{', '.join(METHODS[m].title for m in to_predict)} (weights: {weights_dir}) ...")
            try:
                run_references(to_predict, testset_dir=directory, out_archives=every_case, weights_dir=weights_dir,
                               train_if_missing=not no_train, scale=scale, steps=steps, lung_steps=lung_steps,
                               device=device, track=Track.CONTAINER.value, progress=options.get("verbosity", 1) > 0,
                               workers=workers)
            except FileNotFoundError as missing:
                raise CommandError(f"{missing} (drop --no-train to train it)") from None
        public = {c.case_id for c in load_testset(directory).cases if c.distribution == "public"}
        for method, track in to_submit:
            title = METHODS[method].title
            archive = every_case[method]
            if track != Track.CONTAINER:
                # the archive track sees the public cases only: the same predictions, restricted to them
                archive = restrict_archive(every_case[method], out_dir / f"{method}-{track}.zip", keep=public)
            trained = (shipped_training(method, manifest) if manifest is not None
                       else training_length(method, steps, lung_steps))
            meta = SubmissionMeta(method_name=title, is_public=True,
                                  description=f"Reference implementation of {title} (reference_models/, scale "
                                              f"{scale}, {trained}) trained on the synthetic benchmark's training "
                                              f"sets.")
            reported = ReportedResult.objects.filter(method__iexact=title).first()
            try:
                with open(archive, "rb") as handle:
                    submission = submit_archive(team=owner, user=None, handle=handle, file_name=archive.name,
                                                meta=meta, testset=benchmark, track=track, reference=reported,
                                                is_reference=True)
            except SubmissionRejected as rejected:
                raise CommandError(f"{title}: " + "; ".join(str(p) for p in rejected.problems)) from None
            self.stdout.write(self.style.SUCCESS(f"{title} ({track}): submitted as {submission.pk}"))


def training_length(method: str, steps: int | None, lung_steps: int | None) -> str:
    """How long the entry's networks trained, for its description (a demo's few batches should show)."""
    from reference_models.registry import METHODS

    if METHODS[method].build is None:
        network = "the paper's parameters"
    else:
        network = f"{steps} training batches" if steps is not None else "the benchmark's training schedule"
    lungs = f"{lung_steps} batches" if lung_steps is not None else (
        f"{steps} batches" if steps is not None else "the benchmark's schedule")
    return f"{network}; lung network: {lungs}"




def shipped_training(method: str, manifest: dict) -> str:
    """The training of a shipped network, from the manifest, for the entry's description."""
    from reference_models.registry import METHODS

    if METHODS[method].build is None:
        return "the paper's parameters"
    steps = manifest["files"][f"{method}/best.pt"]["steps"]
    return (f"shipped weights: {steps} training batches, seed {manifest['seed']}, commit "
            f"{str(manifest['commit'])[:12]}; reference_weights/MANIFEST.json")
