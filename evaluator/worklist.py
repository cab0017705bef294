"""Triage impact: a radiologists' worklist simulated in the order an entry puts the studies in (paper Sec. 1, Fig. 1).

Model (one simulated working day; SimPy discrete-event simulation):

- Studies arrive as a Poisson process at ``arrivals_per_hour`` for ``day_hours`` hours. Each
  arrival is a case drawn with replacement from the test set's cases (so the case mix is the
  test set's).
- ``readers`` radiologists read the worklist. A reading takes ``reading_minutes`` on average,
  exponentially distributed (``reading_time="exponential"``) or always exactly that long
  (``"fixed"``). The k-th reading started in a day takes the k-th drawn reading time, whichever
  study it is, so every ordering of the same day has the same reading slots (common random
  numbers: differences between orderings are the orderings' own).
- Each day starts with an empty worklist; studies still waiting at the end of the day are read
  after hours, so every study is read and days are independent.
- Whenever a reader is free, the first study in the worklist is read next. The baseline reads in
  arrival order (first in, first out). The entry's order (:func:`worklist_ranks`): studies it
  calls positive (``covid_probability >= threshold``) first, the most severe prediction first
  (without a predicted severity: the highest probability first); then the others by
  decreasing probability. An entry whose identification score is its severity is read in
  decreasing predicted severity. Equal places keep arrival order.

Waiting time = minutes from arrival until a reader opens the study. Measures
(:data:`MEASURE_KEYS`), pooled over all simulated studies: median and 90th percentile of the
waiting time of COVID-19 positives and of severe positives (top quartile of true severity
among the COVID-19 cases), each for the entry and for first-in-first-out; the share of severe
positives read within ``target_minutes``; and the triage gain, the mean minutes saved per
positive against first-in-first-out (positive: faster).

Intervals (percentile, ``resamples`` values per measure), covering both sources of uncertainty:

- the simulation's own: the simulated days are independent, so each bootstrap value starts from
  the measures recomputed on the days resampled with replacement;
- the test set's finite case mix: a stratified bootstrap resample of the cases (as for the other
  metrics) and the original cases are both run through the same ``days_per_resample`` new days
  (same arrival times, reading times and draw positions: common random numbers), and the
  difference of their measures (severe = top quartile of each) is added.

Because stratified resamples keep every group's size, a study's diagnosis group at each draw
position is the same in both runs; an entry whose order depends only on the groups (a perfect
one) therefore has no case-mix spread in its triage gain, only the simulation's.

All numbers are aggregates over simulated studies; nothing per case is returned. The same
inputs, parameters, size and seed always give the same result.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any

import numpy as np
import simpy
from numpy.typing import ArrayLike

from evaluator.groups import Group
from evaluator.metrics import Interval, stratified_resamples
from evaluator.metrics._arrays import float_array, group_array, optional_values, required_values, same_length


class ReadingTime(StrEnum):
    """How reading times vary around their mean."""

    EXPONENTIAL = "exponential"  # M/M/c: coefficient of variation 1, the standard queueing assumption
    FIXED = "fixed"  # M/D/c: every reading takes exactly the mean


#: Most studies a day may expect (arrivals_per_hour × day_hours): keeps one evaluation within its time budget.
MAX_STUDIES_PER_DAY = 500


@dataclass(frozen=True, slots=True)
class WorklistParameters:
    """The department a test set's worklist simulation models (maintainers may change it per test set).

    Defaults: a chest-CT reading of 16 minutes (mean dictation time of chest CT, 15.84 min over
    32,797 studies: Sexauer & Bestler, J Imaging 2022;8:208); 6 studies an hour over a 12-hour day
    (three scanners at the rate of Moscow's outpatient COVID-19 CT service in 2020, about 23 studies
    per scanner a day); two radiologists reading (80 % busy); the target of 30 minutes.
    See docs/metrics.md for the sources.
    """

    arrivals_per_hour: float = 6.0
    reading_minutes: float = 16.0
    reading_time: ReadingTime = ReadingTime.EXPONENTIAL
    readers: int = 2
    day_hours: float = 12.0
    target_minutes: float = 30.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> WorklistParameters:
        """Parameters from a (partial) mapping, defaults for the rest; ``ValueError`` lists every problem."""
        data = dict(data or {})
        known = {f.name for f in fields(cls)}
        problems = [f"unknown parameter {name!r} (known: {', '.join(sorted(known))})"
                    for name in sorted(set(data) - known)]
        values: dict[str, Any] = {}
        for name in ("arrivals_per_hour", "reading_minutes", "day_hours", "target_minutes"):
            if name in data:
                value = data[name]
                if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) \
                        or value <= 0:
                    problems.append(f"{name} must be a positive number, got {value!r}")
                else:
                    values[name] = float(value)
        if "readers" in data:
            readers = data["readers"]
            if isinstance(readers, bool) or not isinstance(readers, int) or not 1 <= readers <= 100:
                problems.append(f"readers must be a whole number from 1 to 100, got {readers!r}")
            else:
                values["readers"] = readers
        if "reading_time" in data:
            try:
                values["reading_time"] = ReadingTime(data["reading_time"])
            except ValueError:
                problems.append(f"reading_time must be one of {', '.join(r.value for r in ReadingTime)}, "
                                f"got {data['reading_time']!r}")
        if not problems:
            parameters = cls(**values)
            if parameters.day_hours > 24:
                problems.append(f"day_hours must be at most 24, got {parameters.day_hours:g}")
            if parameters.studies_per_day > MAX_STUDIES_PER_DAY:
                problems.append(f"arrivals_per_hour × day_hours must be at most {MAX_STUDIES_PER_DAY} studies a "
                                f"day, got {parameters.studies_per_day:g}")
        if problems:
            raise ValueError("; ".join(problems))
        return parameters

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reading_time": self.reading_time.value}

    @property
    def studies_per_day(self) -> float:
        return self.arrivals_per_hour * self.day_hours

    @property
    def utilisation(self) -> float:
        """Offered load per reader: arrival rate × mean reading time / readers (above 1: the worklist grows)."""
        return self.arrivals_per_hour / 60.0 * self.reading_minutes / self.readers


@dataclass(frozen=True, slots=True)
class SimulationSize:
    """How much is simulated: ``days`` for the values, ``resamples`` × ``days_per_resample`` for the intervals."""

    days: int = 1000
    resamples: int = 100
    days_per_resample: int = 5

    def __post_init__(self) -> None:
        for name in ("days", "resamples", "days_per_resample"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")


# --- the worklist order ---------------------------------------------------------------------------------------


def worklist_ranks(*, scores: ArrayLike, severity: ArrayLike | None, threshold: float | None) -> np.ndarray:
    """Place of each case in the entry's worklist: 0 is read first; equal places are read in arrival order.

    ``threshold``: studies with ``scores >= threshold`` are called positive and come first, ordered
    by ``severity`` (decreasing; by ``scores`` when ``severity`` is ``None``); the rest follow by
    decreasing score. ``threshold=None`` (the score is itself a severity): decreasing score only.
    """
    values = required_values(scores, name="scores")
    called = values >= threshold if threshold is not None else np.zeros(values.size, dtype=bool)
    secondary = values if severity is None else required_values(severity, name="severity")
    same_length(scores=values, severity=secondary)
    keys = np.column_stack([~called, -np.where(called, secondary, 0.0), -values])
    _, ranks = np.unique(keys, axis=0, return_inverse=True)
    return ranks.reshape(-1).astype(np.int64)


# --- the simulation -------------------------------------------------------------------------------------------


def simulate_day(*, arrivals: np.ndarray, readings: np.ndarray, readers: int,
                 orders: Sequence[Sequence[int] | None]) -> np.ndarray:
    """Waiting times (minutes) of one day's studies under each order, shape ``(len(orders), n_studies)``.

    ``arrivals``: sorted arrival times (minutes); ``readings``: the reading time of the k-th reading
    started (one per study); ``orders``: per order, the worklist place of each study (lower first,
    ties in arrival order), or ``None`` for first-in-first-out. All orders run in one SimPy
    environment, each with its own worklist and readers.
    """
    n = len(arrivals)
    waits = np.zeros((len(orders), n))
    if n == 0:
        return waits
    env = simpy.Environment()
    times = arrivals.tolist()
    reading_list = readings.tolist()
    worklists: list[simpy.Store] = []
    for row, order in enumerate(orders):
        worklist = simpy.Store(env) if order is None else simpy.PriorityStore(env)
        worklists.append(worklist)
        started = [0]  # readings started so far under this order

        def reader(worklist: simpy.Store = worklist, row: int = row,
                   started: list[int] = started) -> Generator[simpy.Event, Any, None]:
            while True:
                study = yield worklist.get()
                index = study if isinstance(study, int) else study[1]
                waits[row, index] = env.now - times[index]
                reading = reading_list[started[0]]
                started[0] += 1
                yield env.timeout(reading)

        for _ in range(readers):
            env.process(reader())
    places = [None if order is None else np.asarray(order).tolist() for order in orders]

    def arrive() -> Generator[simpy.Event, Any, None]:
        for index, at in enumerate(times):
            if at > env.now:
                yield env.timeout(at - env.now)
            for worklist, place in zip(worklists, places, strict=True):
                worklist.put(index if place is None else (place[index], index))

    env.process(arrive())
    env.run()
    return waits


@dataclass(frozen=True, slots=True)
class SimulatedStudies:
    """Every simulated study of a run: which case it was, its day, and its waiting time under each order."""

    cases: np.ndarray  # (n,) index into the test set's cases
    days: np.ndarray  # (n,) day number
    waits: np.ndarray  # (n_orders, n) minutes


def simulate(*, case_pools: Sequence[np.ndarray], orders: Sequence[np.ndarray | None],
             parameters: WorklistParameters, days: int, rng: np.random.Generator) -> list[SimulatedStudies]:
    """Simulate ``days`` days whose arrivals are cases drawn with replacement from each of ``case_pools``.

    Every pool (all of the same size) sees the same days: the same arrival times, the same reading
    times and the same draw positions (the study drawn at position ``j`` is ``pool[j]``), so results
    of different pools differ only by their cases (common random numbers). ``orders``: per order,
    the worklist place of every case of the test set (``None``: first in, first out). What is drawn
    from ``rng`` depends on neither the pools' contents nor the orders. One result per pool.
    """
    sizes = {pool.size for pool in case_pools}
    if len(sizes) != 1:
        raise ValueError(f"case pools must have the same size, got {sorted(sizes)}")
    size = sizes.pop()
    minutes = parameters.day_hours * 60.0
    rate = parameters.arrivals_per_hour / 60.0
    runs: list[tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]] = [([], [], []) for _ in case_pools]
    for day in range(days):
        n = int(rng.poisson(rate * minutes))
        arrivals = np.sort(rng.uniform(0.0, minutes, n))
        positions = rng.integers(0, size, n)
        if parameters.reading_time is ReadingTime.EXPONENTIAL:
            readings = rng.exponential(parameters.reading_minutes, n)
        else:
            readings = np.full(n, parameters.reading_minutes)
        for pool, (all_cases, all_days, all_waits) in zip(case_pools, runs, strict=True):
            cases = pool[positions]
            study_orders = [None if order is None else order[cases] for order in orders]
            all_waits.append(simulate_day(arrivals=arrivals, readings=readings, readers=parameters.readers,
                                          orders=study_orders))
            all_cases.append(cases)
            all_days.append(np.full(n, day))
    return [SimulatedStudies(cases=np.concatenate(cases), days=np.concatenate(day_numbers),
                             waits=np.concatenate(waits, axis=1)) for cases, day_numbers, waits in runs]


# --- the measures ---------------------------------------------------------------------------------------------

#: Keys of the measures, each for the entry; those ending in ``_fifo`` are first-in-first-out's.
MEASURE_KEYS = (
    "triage_gain",
    "positive_wait_median", "positive_wait_median_fifo",
    "positive_wait_p90", "positive_wait_p90_fifo",
    "severe_wait_median", "severe_wait_median_fifo",
    "severe_wait_p90", "severe_wait_p90_fifo",
    "severe_within_target", "severe_within_target_fifo",
)


def severe_cases(is_covid: np.ndarray, true_severity: np.ndarray) -> np.ndarray:
    """COVID-19 cases in the top quartile of true severity among the COVID-19 cases (ties included)."""
    if not is_covid.any():
        return np.zeros(is_covid.size, dtype=bool)
    cut = np.quantile(true_severity[is_covid], 0.75)
    return is_covid & (true_severity >= cut)


def _quantile(values: np.ndarray, q: float) -> float | None:
    return float(np.quantile(values, q)) if values.size else None


def measures(*, entry: np.ndarray, fifo: np.ndarray, positive: np.ndarray, severe: np.ndarray,
             target_minutes: float) -> dict[str, float | None]:
    """The measures from waiting times of the same studies under the entry's order and first-in-first-out."""
    result: dict[str, float | None] = {
        "triage_gain": float(np.mean(fifo[positive] - entry[positive])) if positive.any() else None}
    for name, selected in (("positive", positive), ("severe", severe)):
        for suffix, waits in (("", entry), ("_fifo", fifo)):
            chosen = waits[selected]
            result[f"{name}_wait_median{suffix}"] = _quantile(chosen, 0.5)
            result[f"{name}_wait_p90{suffix}"] = _quantile(chosen, 0.9)
            if name == "severe":
                result[f"severe_within_target{suffix}"] = (float(np.mean(chosen <= target_minutes))
                                                           if chosen.size else None)
    return {key: result[key] for key in MEASURE_KEYS}


def _grid_step(longest: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 240, 480):
        if longest / step <= 24:
            return float(step)
    return float(math.ceil(longest / 24))


def distribution(*, entry: np.ndarray, fifo: np.ndarray, positive: np.ndarray, severe: np.ndarray
                 ) -> dict[str, Any] | None:
    """Share of positives (and severe positives) read within each of up to 25 waiting times, entry and FIFO.

    The grid runs from 0 to the 95th percentile of the positives' first-in-first-out waits, in round
    steps. Aggregates over all simulated studies only.
    """
    if not positive.any():
        return None
    longest = max(float(np.quantile(fifo[positive], 0.95)), float(np.quantile(entry[positive], 0.95)), 1.0)
    step = _grid_step(longest)
    grid = np.arange(0.0, step * math.ceil(longest / step) + step / 2, step)

    def shares(waits: np.ndarray) -> list[float] | None:
        if not waits.size:
            return None
        ordered = np.sort(waits)
        return [round(float(x), 4) for x in np.searchsorted(ordered, grid, side="right") / ordered.size]

    return {"minutes": grid.tolist(),
            "positive": {"entry": shares(entry[positive]), "fifo": shares(fifo[positive])},
            "severe": {"entry": shares(entry[severe]), "fifo": shares(fifo[severe])}}


def _interval(samples: list[float | None], confidence: float) -> Interval | None:
    valid = np.array([s for s in samples if s is not None], dtype=float)
    if valid.size == 0:
        return None
    tail = 100.0 * (1.0 - confidence) / 2.0
    low, high = np.percentile(valid, [tail, 100.0 - tail])
    return Interval(low=float(low), high=float(high), n_valid=int(valid.size))


def triage_impact(*, groups: Iterable[Group | str], true_severity: ArrayLike | Sequence[float | None],
                  scores: ArrayLike | Sequence[float | None] | None,
                  severity: ArrayLike | Sequence[float | None] | None, threshold: float | None,
                  parameters: WorklistParameters = WorklistParameters(), size: SimulationSize = SimulationSize(),
                  seed: int = 0, confidence: float = 0.95) -> dict[str, Any]:
    """The triage impact of an entry on a test set, as a JSON-ready document of aggregates.

    ``groups`` and ``true_severity`` (``None`` for non-COVID cases: read as 0) are the test set's;
    ``scores`` is the entry's identification score per case and ``severity`` its predicted severity
    (``None``: it has none); ``threshold`` calls a study positive (``None`` when the score is itself a
    severity). Returns ``{"parameters", "simulation", "ordering", "measures", "intervals",
    "distribution", "not_applicable"}``; without scores, or without COVID-19 cases, the measures
    are ``None`` and ``not_applicable`` says why.
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1, got {confidence}")
    group_values = group_array(groups)
    truth = np.nan_to_num(float_array(true_severity, name="true_severity"), nan=0.0)
    same_length(groups=group_values, true_severity=truth)
    values = optional_values(scores, name="scores")
    predicted = optional_values(severity, name="severity")
    is_covid = group_values == Group.COVID
    document: dict[str, Any] = {
        "parameters": parameters.to_dict(),
        "simulation": {"days": size.days, "resamples": size.resamples, "days_per_resample": size.days_per_resample,
                       "seed": seed, "confidence": confidence, "engine": f"SimPy {simpy.__version__}"},
        "ordering": None, "measures": None, "intervals": None, "distribution": None, "not_applicable": None,
    }
    if values is None:
        document["not_applicable"] = "no identification score"
        return document
    if not is_covid.any():
        document["not_applicable"] = "no COVID-19 cases"
        return document
    if threshold is None:
        document["ordering"] = "decreasing identification score (a severity)"
    else:
        document["ordering"] = (f"called positive (score ≥ {threshold:g}) first, "
                                + ("most severe prediction first" if predicted is not None
                                   else "highest score first (no predicted severity)")
                                + "; then the rest by decreasing score")
    ranks = worklist_ranks(scores=values, severity=predicted, threshold=threshold)
    orders = [None, ranks]
    rng = np.random.default_rng(seed)

    severe = severe_cases(is_covid, truth)
    everything = np.arange(group_values.size)
    run = simulate(case_pools=[everything], orders=orders, parameters=parameters, days=size.days, rng=rng)[0]
    fifo, entry = run.waits
    positive_studies, severe_studies = is_covid[run.cases], severe[run.cases]
    point = measures(entry=entry, fifo=fifo, positive=positive_studies, severe=severe_studies,
                     target_minutes=parameters.target_minutes)
    document["measures"] = point
    document["distribution"] = distribution(entry=entry, fifo=fifo, positive=positive_studies,
                                            severe=severe_studies)
    document["simulation"].update(studies=int(run.cases.size), positive_studies=int(positive_studies.sum()),
                                  severe_studies=int(severe_studies.sum()),
                                  triage_gain_standard_error=_gain_standard_error(
                                      run, days=size.days, fifo=fifo, entry=entry, positive=positive_studies))

    # Each resample b: (1) the simulated days resampled with replacement (days are independent): the values'
    # own simulation error; (2) the same few new days on the test set's cases and on the b-th stratified
    # resample of the cases (common random numbers): the difference is the case mix's effect. Value_b = (1) + (2).
    starts = np.searchsorted(run.days, np.arange(size.days + 1))
    day_rng = np.random.default_rng([seed, 1])
    samples: dict[str, list[float | None]] = {key: [] for key in MEASURE_KEYS}
    for pool in stratified_resamples(group_values, n_resamples=size.resamples, seed=seed):
        picked = day_rng.integers(0, size.days, size.days)
        lengths = starts[picked + 1] - starts[picked]
        chosen = np.repeat(starts[picked] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        again = measures(entry=entry[chosen], fifo=fifo[chosen], positive=positive_studies[chosen],
                         severe=severe_studies[chosen], target_minutes=parameters.target_minutes)
        original, resampled = simulate(case_pools=[everything, pool], orders=orders, parameters=parameters,
                                       days=size.days_per_resample, rng=rng)
        severe_here = np.zeros(group_values.size, dtype=bool)
        severe_here[pool[severe_cases(is_covid[pool], truth[pool])]] = True
        before = measures(entry=original.waits[1], fifo=original.waits[0], positive=is_covid[original.cases],
                          severe=severe[original.cases], target_minutes=parameters.target_minutes)
        after = measures(entry=resampled.waits[1], fifo=resampled.waits[0], positive=is_covid[resampled.cases],
                         severe=severe_here[resampled.cases], target_minutes=parameters.target_minutes)
        for key in MEASURE_KEYS:
            simulated, on_cases, on_resample = again[key], before[key], after[key]
            if simulated is None or on_cases is None or on_resample is None:
                samples[key].append(None)
                continue
            value = simulated + on_resample - on_cases
            if key.startswith("severe_within_target"):
                value = min(max(value, 0.0), 1.0)
            elif key != "triage_gain":
                value = max(value, 0.0)
            samples[key].append(value)
    intervals = {key: _interval(samples[key], confidence) for key in MEASURE_KEYS}
    document["intervals"] = {key: (i.to_dict() if i is not None else None) for key, i in intervals.items()}
    return document


def _gain_standard_error(run: SimulatedStudies, *, days: int, fifo: np.ndarray, entry: np.ndarray,
                         positive: np.ndarray, batches: int = 20) -> float | None:
    """Simulation standard error of the triage gain: spread of its value over ``batches`` batches of days
    (``None`` with fewer days than batches, or a batch without positives)."""
    if days < batches:
        return None
    batch = run.days * batches // days
    saved = np.bincount(batch[positive], weights=(fifo - entry)[positive], minlength=batches)
    counts = np.bincount(batch[positive], minlength=batches)
    if (counts == 0).any():
        return None
    return float(np.std(saved / counts, ddof=1) / math.sqrt(batches))


__all__ = ["MAX_STUDIES_PER_DAY", "MEASURE_KEYS", "ReadingTime", "SimulatedStudies", "SimulationSize",
           "WorklistParameters", "distribution", "measures", "severe_cases", "simulate", "simulate_day",
           "triage_impact", "worklist_ranks"]
