"""Released numbers: the one place that turns a stored result into what a team or the public may see.

Every number shown anywhere (board, entry page, JSON/CSV export, API, submission pages, DeLong p-values, ranks,
confusion tables, charts) comes from :func:`release` or :func:`release_many`, applying the test set's
:class:`~leaderboard.testsets.models.FeedbackPolicy` (pure logic in :mod:`evaluator.feedback`):

- ``exact``: the stored result as scored (sets whose labels are public);
- ``split``: during the open and final phases, the scorer's result on the leaderboard split only; once the
  phase is closed, each team's final choices (up to ``final_selections``; else its best by the open-phase
  score) also get their result on the held-out rest, which ranks the closed board;
- ``ladder``: per metric, a team's shown value moves only when a submission beats the team's shown best by
  at least η, rounded to η; intervals, charts and tables come from the submission that set the shown value;
- the guard (``feedback_guard``): a degenerate submission releases nothing; the team is told why.

Maintainers (``viewer`` a staff account) always get the exact view. The derived documents (split, held-out,
guard verdict) are computed by the worker that scored the evaluation and saved with its result
(``Evaluation.feedback``, :func:`documents_at_finish`): a board or page re-scores only evaluations whose
documents predate a change of the policy's split or scoring sizes (:meth:`Policy.parts_key`).
A later measure added to the scorer's result (``evaluator.scoring.score_cases``) passes through unchanged.

The triage impact (the document's ``triage`` part, label-derived like the metrics) is released with the document
it belongs to: under the split computed by the scorer on the released cases only (with the worklist parameters the
result was scored with and the site's simulation size), under the Ladder that of the submission whose document is
shown (the one that set the shown ROC-AUC), withheld with everything else by the guard. ``Released.triage_gain`` and
``Released.triage_interval`` are what the board column and the exports show.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import JSONField
from django.db.models.expressions import RawSQL

from evaluator import feedback as policy_logic
from evaluator.scoring import ScoringOptions
from evaluator.worklist import WorklistParameters
from leaderboard.accounts.access import is_maintainer
from leaderboard.board.triage import INTERVAL_PATH, VALUE_PATH, compact_interval
from leaderboard.metric_defs import METRIC_KEYS
from leaderboard.submissions.archive_job import scoring_options
from leaderboard.submissions.models import Evaluation
from leaderboard.submissions.states import EvaluationState
from leaderboard.testsets.models import FeedbackPolicy, Phase, TestSet

log = logging.getLogger(__name__)
CACHE_VERSION = 3
#: Extras that draw one mark per case: only in the exact view.
PER_CASE_EXTRAS = ("roc_curves", "ranked_severity")
#: Extras that count or average the team's own values over a partition of the cases by label (a confusion table
#: at a fixed threshold, category agreement, per-group severity summaries): with crafted predictions each release
#: reveals the class of many cases at once, so during the open phase they are withheld and only released with
#: the final ranking (once, on the held-out cases) or in the exact view.
PARTITION_EXTRAS = ("confusion", "severity_categories", "severity_summaries")


class Stage:
    EXACT = "exact"  # the stored result (exact policy, or a maintainer looking)
    OPEN = "open"  # open/final phase feedback (split and/or ladder)
    FINAL = "final"  # a final choice scored on the held-out cases, after closing
    WITHHELD = "withheld"  # the guard withheld it


@dataclass(frozen=True)
class Policy:
    kind: str
    guard: bool
    phase: str
    split_fraction: float
    split_seed: int
    eta: float
    final_selections: int

    @classmethod
    def of(cls, testset: TestSet) -> Policy:
        """The test set's policy (a sample set's labels are public: always exact)."""
        kind = FeedbackPolicy.EXACT if testset.kind == TestSet.Kind.SAMPLE else testset.feedback_policy
        return cls(kind=kind, guard=testset.feedback_guard, phase=testset.phase,
                   split_fraction=testset.split_fraction, split_seed=testset.split_seed, eta=testset.ladder_eta,
                   final_selections=testset.final_selections)

    @property
    def exact(self) -> bool:
        return self.kind == FeedbackPolicy.EXACT

    @property
    def split(self) -> bool:
        return self.kind in (FeedbackPolicy.SPLIT, FeedbackPolicy.SPLIT_LADDER)

    @property
    def ladder(self) -> bool:
        return self.kind in (FeedbackPolicy.LADDER, FeedbackPolicy.SPLIT_LADDER)

    def parts_key(self) -> str:
        """What the derived documents depend on (they are recomputed when it changes)."""
        size = scoring_options().worklist_size
        text = json.dumps([CACHE_VERSION, self.split, self.split_fraction, self.split_seed,
                           settings.LEADERBOARD_BOOTSTRAP_RESAMPLES, size.days, size.resamples, size.days_per_resample])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Released:
    """What may be shown of one evaluation. ``document``: the public result document of the released cases
    (metrics, intervals, extras; per-case extras only when ``exact_charts``), or ``None`` when nothing is."""

    evaluation_id: int
    stage: str
    metrics: dict[str, float | None]
    intervals: dict[str, list[float] | None]
    document: dict[str, Any] | None
    source_id: int | None  # the evaluation whose document (charts, tables, DeLong) is shown
    cases: frozenset[str] | None  # the cases the numbers are computed on (None: all the evaluation scored)
    basis: str  # in words, for the page
    exact_charts: bool = False
    withheld: str | None = None
    note: str = ""
    rounded_to: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    triage_gain: float | None = None  # the released document's triage gain (minutes saved per COVID-19 positive)
    triage_interval: list[float] | None = None

    @property
    def shown(self) -> bool:
        return self.withheld is None

    def to_api(self) -> dict[str, Any]:
        return {"stage": self.stage, "basis": self.basis, "withheld": self.withheld, "note": self.note or None,
                "rounded_to": self.rounded_to, "n_cases": (self.document or {}).get("n_cases")}


def _none_metrics() -> dict[str, float | None]:
    return {key: None for key in METRIC_KEYS}


def _triage_fields(document: dict[str, Any] | None) -> dict[str, Any]:
    """``triage_gain`` and ``triage_interval`` of a (released) document's triage part."""
    triage = (document or {}).get("triage") or {}
    return {"triage_gain": (triage.get("measures") or {}).get("triage_gain"),
            "triage_interval": compact_interval((triage.get("intervals") or {}).get("triage_gain"))}


def _shown_document(document: dict[str, Any], *, exact_charts: bool, stage: str = Stage.FINAL) -> dict[str, Any]:
    if exact_charts:
        return document
    hidden = PER_CASE_EXTRAS + (PARTITION_EXTRAS if stage == Stage.OPEN else ())
    extras = {k: v for k, v in (document.get("extras") or {}).items() if k not in hidden}
    return {**document, "extras": extras}


def _exact(row: dict[str, Any], *, basis: str = "all scored cases") -> Released:
    document = row["result"] or {}
    return Released(evaluation_id=row["pk"], stage=Stage.EXACT, metrics={k: row[k] for k in METRIC_KEYS},
                    intervals=row["intervals"] or {}, document=document, source_id=row["pk"], cases=None,
                    basis=basis, exact_charts=True, triage_gain=row.get(VALUE_PATH),
                    triage_interval=compact_interval(row.get(INTERVAL_PATH)))


def _options(result: dict[str, Any]) -> ScoringOptions:
    """Options for re-scoring parts of ``result``: the site's scoring options (bootstrap and simulation sizes) in
    one process, with the worklist parameters the full result was scored with (the same simulated department)."""
    parameters = (result.get("triage") or {}).get("parameters")
    return dataclasses.replace(scoring_options(), workers=1, worklist=WorklistParameters.from_dict(parameters))


def _rescore(result: dict[str, Any], per_case: list[dict[str, Any]], cases: set[str] | frozenset[str]
             ) -> dict[str, Any]:
    document = policy_logic.rescore(result, per_case, cases, options=_options(result))
    if "triage" not in result:  # scored before the triage impact existed (scorer < 1.1.0): not released either
        document.pop("triage", None)
    return document


def _per_case(pk: int) -> list[dict[str, Any]]:
    stored = Evaluation.objects.filter(pk=pk).values_list("per_case", flat=True).first() or {}
    return list(stored.get("per_case", []))


def _derive(result: dict[str, Any], per_case: list[dict[str, Any]], earlier: list[list[dict[str, Any]]],
            policy: Policy) -> dict[str, Any]:
    """The derived documents of one result (``earlier``: the per-case rows of the team's earlier submissions, for
    the guard). CPU-bound (re-scoring, triage simulation): only the scorer's process calls it."""
    parts: dict[str, Any] = {"key": policy.parts_key(), "open": None, "final": None, "open_cases": None}
    if policy.split:
        groups = {case["case_id"]: case["group"] for case in per_case}
        split = policy_logic.split_cases(groups, fraction=policy.split_fraction, seed=policy.split_seed)
        parts["open_cases"] = sorted(split)
        parts["open"] = _rescore(result, per_case, split)
        parts["final"] = _rescore(result, per_case, set(groups) - split)
    sent_severity = (result.get("inputs") or {}).get("severity") == "column"
    columns = [c for c in policy_logic.OWN_COLUMNS if c != "predicted_severity" or sent_severity]
    parts["guard"] = policy_logic.guard_reason(per_case, earlier, columns=columns)
    return parts


def _parts(row: dict[str, Any], earlier: list[dict[str, Any]], policy: Policy, per_case_of) -> dict[str, Any]:
    """The evaluation's derived documents, computed by the scorer once (then kept in ``Evaluation.feedback``).
    Normally the worker stored them with the result (:func:`documents_at_finish`); derived here only when they
    are missing or the policy's :meth:`Policy.parts_key` changed since."""
    stored = row.get("feedback")
    if stored and stored.get("key") == policy.parts_key():
        return stored
    if row.get("result") is None:  # not loaded with the history (see _needs_results)
        row["result"] = Evaluation.objects.filter(pk=row["pk"]).values_list("result", flat=True).first()
    parts = _derive(row["result"] or {}, per_case_of(row["pk"]), [per_case_of(other["pk"]) for other in earlier],
                    policy)
    Evaluation.objects.filter(pk=row["pk"]).update(feedback=parts)
    row["feedback"] = parts
    return parts


def documents_at_finish(evaluation: Evaluation, *, result: dict[str, Any], per_case: list[dict[str, Any]]
                        ) -> dict[str, Any] | None:
    """The derived documents of an evaluation its worker is about to record ``done``, from the new ``result``
    (as it will be stored: the public view) and its per-case rows, to be saved in the same write as the result
    (``Evaluation.feedback``). So a done evaluation carries them from its first moment on a board, and web
    requests never re-score (the same documents :func:`_parts` would derive: the guard compares with the team's
    earlier submissions on these labels and track, as in :func:`_team_releases`). ``None`` under ``exact``."""
    submission = evaluation.submission
    policy = Policy.of(evaluation.label_version.testset)
    if policy.exact:
        return None
    earlier: list[list[dict[str, Any]]] = []
    if not submission.is_reference:  # a reference entry is a history of its own
        history = _histories(label_version_id=evaluation.label_version_id, track=evaluation.track,
                             team_ids={submission.team_id}, documents=False).get(submission.team_id, [])
        mine = (submission.created_at, submission.pk)
        earlier = [_per_case(row["pk"]) for row in history
                   if (row["submission__created_at"], row["submission_id"]) < mine]
    return _derive(result, per_case, earlier, policy)


_HISTORY_FIELDS = ("pk", "submission_id", "submission__created_at", "submission__is_final_choice",
                   "submission__team_id", "submission__is_reference", "intervals", "feedback", *METRIC_KEYS,
                   VALUE_PATH, INTERVAL_PATH)


#: What a board reads of the derived documents (``Evaluation.feedback``): the numbers of the open and final
#: documents, not their charts and tables (a tenth of the JSON to decode per evaluation).
_SLIM_FEEDBACK = {"key": "key", "guard": "guard", "open_cases": "open_cases",
                  **{f"{part}.{name}": f"{part}__{path}" for part in ("open", "final") for name, path in (
                      ("metrics", "metrics"), ("intervals", "intervals"), ("n_cases", "n_cases"),
                      ("gain", "triage__measures__triage_gain"), ("gain_interval", "triage__intervals__triage_gain"))}}


def _slim_feedback(row: dict[str, Any]) -> dict[str, Any] | None:
    """``row["feedback"]`` rebuilt from the :data:`_SLIM_FEEDBACK` columns (``None``: none stored)."""
    values = {name: row.pop(f"feedback__{path}") for name, path in _SLIM_FEEDBACK.items()}
    if values["key"] is None:
        return None
    parts: dict[str, Any] = {"key": values["key"], "guard": values["guard"], "open_cases": values["open_cases"]}
    for part in ("open", "final"):
        if values[f"{part}.metrics"] is None:
            parts[part] = None
            continue
        parts[part] = {"metrics": values[f"{part}.metrics"], "intervals": values[f"{part}.intervals"],
                       "n_cases": values[f"{part}.n_cases"],
                       "triage": {"measures": {"triage_gain": values[f"{part}.gain"]},
                                  "intervals": {"triage_gain": values[f"{part}.gain_interval"]}}}
    return parts


def _slim_feedback_postgresql() -> RawSQL:
    """The :data:`_SLIM_FEEDBACK` columns on PostgreSQL as one JSON object (keys ``feedback__<path>``): the
    stored document is decompressed once per row (``OFFSET 0`` keeps the sub-select from being inlined), where
    one key path per column decompresses it once per path (7 x the time of a 10,000-evaluation board)."""
    pairs = ", ".join(f"'feedback__{path}', x #> '{{{','.join(path.split('__'))}}}'"
                      for path in _SLIM_FEEDBACK.values())
    table = Evaluation._meta.db_table
    return RawSQL(f'(SELECT jsonb_build_object({pairs}) FROM (SELECT "{table}"."feedback" AS x OFFSET 0) AS slim)',
                  (), output_field=JSONField())


def _histories(*, label_version_id: int, track: str, team_ids: set[int] | None, documents: bool,
               slim: bool = False) -> dict[int, list[dict[str, Any]]]:
    """Per team: its scored submissions on these labels and track, oldest first (the latest done evaluation of
    each), in one query. ``documents``: also load the stored result documents; ``slim``: of the derived
    documents only what a board shows (:data:`_SLIM_FEEDBACK`)."""
    queryset = Evaluation.objects.filter(label_version_id=label_version_id, track=track, state=EvaluationState.DONE)
    if team_ids is not None:
        queryset = queryset.filter(submission__team_id__in=team_ids)
    fields = [field for field in _HISTORY_FIELDS if not (slim and field == "feedback")]
    packed: dict[str, RawSQL] = {}
    if slim and connection.vendor == "postgresql":
        packed = {"slim_feedback": _slim_feedback_postgresql()}
    elif slim:
        fields += [f"feedback__{path}" for path in _SLIM_FEEDBACK.values()]
    if documents:
        fields.append("result")
    rows = queryset.order_by("submission__created_at", "submission_id", "-pk").values(*fields, **packed)
    latest: dict[int, dict[str, Any]] = {}
    for row in rows:
        row.setdefault("result", None)
        if packed:
            row.update(row.pop("slim_feedback") or {})
        if slim:
            row["feedback"] = _slim_feedback(row)
        latest.setdefault(row["submission_id"], row)
    histories: dict[Any, list[dict[str, Any]]] = {}
    for row in latest.values():
        histories.setdefault(_history_key(row), []).append(row)
    return histories


def _needs_results(policy: Policy, *, for_board: bool) -> bool:
    """Whether releasing needs the stored result documents: not under a split (the derived documents in
    ``feedback`` are shown; a result is read only to derive missing ones), nor for a board under ``exact`` (the
    columns suffice; an entry page shows the document)."""
    return not policy.split and not (for_board and policy.exact)


def _history_key(row: dict[str, Any]) -> Any:
    """A team's submissions share one history (Ladder, guard); each reference entry (a maintainers' re-scoring
    of a published method) is a history of its own, without the guard."""
    return ("reference", row["submission_id"]) if row["submission__is_reference"] else row["submission__team_id"]


def _team_releases(history: list[dict[str, Any]], policy: Policy) -> dict[int, Released]:
    if policy.exact:
        return {row["pk"]: _exact(row) for row in history}
    open_docs: list[dict[str, Any] | None] = []
    released: dict[int, Released] = {}
    loaded: dict[int, list[dict[str, Any]]] = {}

    def per_case_of(pk: int) -> list[dict[str, Any]]:
        if pk not in loaded:
            loaded[pk] = _per_case(pk)
        return loaded[pk]

    for index, row in enumerate(history):
        parts = _parts(row, history[:index], policy, per_case_of)
        withheld = parts.get("guard") if policy.guard and not row["submission__is_reference"] else None
        open_docs.append(None if withheld else (parts["open"] if policy.split else row["result"]))
        if withheld:
            released[row["pk"]] = Released(evaluation_id=row["pk"], stage=Stage.WITHHELD, metrics=_none_metrics(),
                                           intervals={}, document=None, source_id=None, cases=None,
                                           basis="nothing released", withheld=withheld)
    open_cases = {row["pk"]: (frozenset(row["feedback"]["open_cases"]) if policy.split else None) for row in history}
    basis = "the leaderboard split" if policy.split else "all scored cases"
    if policy.ladder:
        steps = {key: policy_logic.ladder([(doc or {}).get("metrics", {}).get(key) if doc else None
                                           for doc in open_docs], eta=policy.eta) for key in METRIC_KEYS}
    for index, row in enumerate(history):
        if row["pk"] in released:
            continue
        doc = open_docs[index]
        assert doc is not None  # withheld rows were released above
        if policy.ladder:
            metrics, intervals = {}, {}
            for key in METRIC_KEYS:
                step = steps[key][index]
                metrics[key] = step.value
                source_doc = open_docs[step.source] if step.source is not None else None
                interval = ((source_doc or {}).get("intervals") or {}).get(key)
                intervals[key] = policy_logic.round_interval([interval["low"], interval["high"]], eta=policy.eta) \
                    if interval else None
            main = steps["roc_auc_all"][index]
            source = main.source if main.source is not None else index
            source_document = open_docs[source]
            assert source_document is not None  # a ladder source is never a withheld submission
            moved = [key for key in METRIC_KEYS if steps[key][index].moved]
            note = ("" if main.moved or main.source is None else
                    "This submission did not beat your team's shown ROC-AUC by the ladder step; the numbers, "
                    "charts and tables shown are those of your best so far.")
            released[row["pk"]] = Released(
                evaluation_id=row["pk"], stage=Stage.OPEN, metrics=metrics, intervals=intervals,
                document=_shown_document(source_document, exact_charts=False, stage=Stage.OPEN),
                source_id=history[source]["pk"],
                cases=open_cases[history[source]["pk"]], basis=basis, note=note, rounded_to=policy.eta,
                extra={"moved": moved}, **_triage_fields(source_document))
        else:
            intervals = {k: ([v["low"], v["high"]] if v else None) for k, v in (doc.get("intervals") or {}).items()}
            released[row["pk"]] = Released(
                evaluation_id=row["pk"], stage=Stage.OPEN, metrics=dict(doc.get("metrics") or {}),
                intervals=intervals, document=_shown_document(doc, exact_charts=False, stage=Stage.OPEN),
                source_id=row["pk"],
                cases=open_cases[row["pk"]], basis=basis, **_triage_fields(doc))
    if policy.phase == Phase.CLOSED:
        for pk in _final_choices(history, released, policy):
            row = next(r for r in history if r["pk"] == pk)
            final = row["feedback"]["final"] if policy.split else row["result"]
            intervals = {k: ([v["low"], v["high"]] if v else None) for k, v in (final.get("intervals") or {}).items()}
            held_in = open_cases[pk] or frozenset()
            cases = (frozenset(c["case_id"] for c in per_case_of(pk) if c["case_id"] not in held_in)
                     if policy.split else None)
            released[pk] = Released(
                evaluation_id=pk, stage=Stage.FINAL, metrics=dict(final.get("metrics") or {}), intervals=intervals,
                document=_shown_document(final, exact_charts=False), source_id=pk, cases=cases,
                basis="the held-out cases (final ranking)" if policy.split else "all scored cases (final ranking)",
                extra={"open": released[pk]}, **_triage_fields(final))
    return released


def _final_choices(history: list[dict[str, Any]], released: dict[int, Released], policy: Policy) -> list[int]:
    """The team's final submissions: those it chose (newest first, up to the limit), else its best by the
    released open-phase ROC-AUC among the submissions that set a shown value (ties: the later one)."""
    eligible = [row for row in history if released[row["pk"]].stage != Stage.WITHHELD]
    chosen = [row["pk"] for row in reversed(eligible) if row["submission__is_final_choice"]]
    if chosen:
        return chosen[: policy.final_selections]
    eligible = [row for row in eligible if released[row["pk"]].source_id == row["pk"]]

    def score(row):
        value = released[row["pk"]].metrics.get("roc_auc_all")
        return -1.0 if value is None else value

    ranked = sorted(enumerate(eligible), key=lambda item: (score(item[1]), item[0]), reverse=True)
    return [row["pk"] for _, row in ranked[: policy.final_selections]]


def _revision() -> str:
    from leaderboard.board.revision import revision

    return revision()


def team_releases(team_id: int, label_version_id: int, track: str, testset: TestSet) -> dict[int, Released]:
    """Every released view of one team's evaluations on one board (cached per board revision)."""
    policy = Policy.of(testset)
    text = f"{_revision()}|{team_id}|{label_version_id}|{track}|{policy!r}"
    key = f"feedback:{CACHE_VERSION}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"

    def compute() -> dict[int, Released]:
        histories = _histories(label_version_id=label_version_id, track=track, team_ids={team_id},
                               documents=_needs_results(policy, for_board=False))
        out: dict[int, Released] = {}
        for history in histories.values():
            out.update(_team_releases(history, policy))
        return out

    found: dict[int, Released] | None = cache.get_or_set(key, compute, timeout=600)
    assert found is not None  # compute() never returns None
    return found


def release(evaluation: Evaluation, *, viewer=None) -> Released:
    """The released view of one done evaluation, for ``viewer`` (maintainers: exact)."""
    testset = evaluation.label_version.testset
    if is_maintainer(viewer):
        row = (Evaluation.objects.filter(pk=evaluation.pk)
               .values("pk", "result", "intervals", *METRIC_KEYS, VALUE_PATH, INTERVAL_PATH).first())
        return _exact(row, basis="all scored cases (maintainer view)")
    releases = team_releases(evaluation.submission.team_id, evaluation.label_version_id, evaluation.track, testset)
    found = releases.get(evaluation.pk)
    if found is None:  # not the team's latest evaluation of that submission (an older scorer version)
        return Released(evaluation_id=evaluation.pk, stage=Stage.WITHHELD, metrics=_none_metrics(), intervals={},
                        document=None, source_id=None, cases=None, basis="nothing released",
                        withheld="superseded by a newer scoring of this submission")
    return found


def release_many(team_ids: set[int], *, label_version_id: int, track: str, testset: TestSet) -> dict[int, Released]:
    """Released views of every evaluation of these teams on one board, for building it (a fixed number of
    queries). Their ``document`` holds only the numbers (metrics, intervals, case count, triage gain): a board
    reads nothing else, and decoding every evaluation's whole documents was most of a board build's time;
    :func:`release` gives the full document of one evaluation."""
    policy = Policy.of(testset)
    histories = _histories(label_version_id=label_version_id, track=track, team_ids=team_ids,
                           documents=_needs_results(policy, for_board=True), slim=True)
    out: dict[int, Released] = {}
    for history in histories.values():
        out.update(_team_releases(history, policy))
    return out


def _derive_on_done(sender, instance: Evaluation, **kwargs) -> None:
    """A fallback for an evaluation recorded done without its documents (the worker saves them with the result,
    :func:`documents_at_finish`): derive them in the process that saved it, after the commit, rather than in the
    first web request that shows it. Failures only log: release derives them later."""
    if kwargs.get("raw") or instance.state != EvaluationState.DONE or instance.feedback is not None:
        return
    pk = instance.pk

    def derive() -> None:
        try:
            evaluation = Evaluation.objects.select_related("submission", "label_version__testset").get(pk=pk)
            if not Policy.of(evaluation.label_version.testset).exact:
                team_releases(evaluation.submission.team_id, evaluation.label_version_id, evaluation.track,
                              evaluation.label_version.testset)
        except Exception:  # noqa: BLE001 - never fail the scoring task over derived documents
            log.exception("evaluation %s: deriving its feedback documents failed (retried when shown)", pk)

    transaction.on_commit(derive)


def connect() -> None:
    from django.db.models.signals import post_save

    post_save.connect(_derive_on_done, sender=Evaluation, dispatch_uid="feedback-derive-on-done")


def board_basis(testset: TestSet) -> str:
    """What the numbers of the test set's board are, in words (board page and exports)."""
    policy = Policy.of(testset)
    if policy.exact:
        return "exact results on all scored cases"
    if policy.phase == Phase.CLOSED:
        return ("final ranking: each team's final choices (else its best open-phase entry), scored on the "
                + ("held-out cases not in the leaderboard split" if policy.split else "all scored cases"))
    words = "results on the leaderboard split (a fixed part of the cases)" if policy.split else "results"
    if policy.ladder:
        words += f", shown through the Ladder (a team's numbers move only when it improves by {policy.eta:g})"
    return words + ("; feedback on degenerate submissions is withheld" if policy.guard else "")


def score_final(testset: TestSet) -> int:
    """Derive (scorer) and keep the documents of every done evaluation on the test set's current labels, held-out
    part included, before the phase closes; returns how many evaluations there are."""
    label_version = testset.current_label_version()
    if label_version is None:
        return 0
    count = 0
    for track in ("archive", "container"):
        team_ids = set(Evaluation.objects.filter(label_version=label_version, track=track,
                                                 state=EvaluationState.DONE)
                       .values_list("submission__team_id", flat=True))
        count += len(release_many(team_ids, label_version_id=label_version.pk, track=track, testset=testset))
    return count


__all__ = ["Policy", "Released", "Stage", "board_basis", "documents_at_finish", "release", "release_many",
           "score_final", "team_releases"]
