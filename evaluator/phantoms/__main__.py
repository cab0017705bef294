"""Command line: ``python -m evaluator.phantoms {testset,authors,mosmed,medseg,covid-ct-seg,sample} OUT [options]``."""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from evaluator.groups import Group
from evaluator.phantoms.datasets import MOSMED_SPACING, write_covid_ct_seg, write_medseg, write_mosmed
from evaluator.phantoms.generate import DEFAULT_SHAPE, DEFAULT_SPACING
from evaluator.phantoms.pathology import INPATIENT_BANDS, POPULATION_BANDS
from evaluator.phantoms.testset import (
    DEFAULT_PRIVATE_GROUPS,
    MOSMED_TEST_COUNTS,
    write_authors_layout,
    write_sample,
    write_testset,
)


def _counts(text: str) -> dict[str, int]:
    """``covid=32,normal=31`` → {"covid": 32, "normal": 31}."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected NAME=COUNT pairs separated by commas, got {part!r}")
        out[key.strip()] = int(value)
    return out


def _group_counts(text: str) -> dict[Group, int]:
    counts = _counts(text)
    try:
        return {Group(k): n for k, n in counts.items()}
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}; groups are {', '.join(g.value for g in Group)}") from None


def _groups(text: str) -> tuple[Group, ...]:
    try:
        return tuple(Group(g.strip()) for g in text.split(",") if g.strip())
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{error}; groups are {', '.join(g.value for g in Group)}") from None


def _default_counts() -> str:
    return ",".join(f"{g.value}={n}" for g, n in MOSMED_TEST_COUNTS.items())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m evaluator.phantoms",
        description="Write deterministic synthetic chest-CT phantoms in one of several dataset layouts.",
    )
    sub = parser.add_subparsers(dest="layout", required=True, metavar="LAYOUT")

    def add(
        name: str, help_text: str, spacing: tuple[float, float, float] = DEFAULT_SPACING, *, varies: bool = True
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("out", type=Path, metavar="OUT", help="new or empty output folder")
        p.add_argument("--shape", type=int, nargs=3, default=list(DEFAULT_SHAPE), metavar=("X", "Y", "Z"),
                       help=f"voxels per axis (default {' '.join(map(str, DEFAULT_SHAPE))})")
        p.add_argument("--spacing", type=float, nargs=3, default=list(spacing), metavar=("SX", "SY", "SZ"),
                       help=f"voxel size in mm (default {' '.join(f'{s:g}' for s in spacing)})")
        p.add_argument("--seed", type=int, default=0, help="seed of the whole set (default 0)")
        p.add_argument("--workers", type=int, default=1, help="processes generating cases (default 1)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        if varies:
            p.add_argument("--fixed-spacing", action="store_true",
                           help="every series on the --shape/--spacing grid (default: slice spacing 1/8..1 × the "
                                "nominal one and pixels 0.8..1.2 × it, drawn per series, same field of view)")
        return p

    p = add("testset", "the leaderboard's test-set layout (hidden labels)")
    p.add_argument("--counts", type=_group_counts, default=dict(MOSMED_TEST_COUNTS),
                   help=f"cases per group (default {_default_counts()})")
    p.add_argument("--name", default="Synthetic Mosmed-Test")
    p.add_argument("--version", default="1")
    p.add_argument("--description", default=None)
    p.add_argument("--multi-rater-fraction", type=float, default=1 / 3, help="share of COVID-19 cases with two raters")
    p.add_argument("--private-groups", type=_groups, default=DEFAULT_PRIVATE_GROUPS,
                   help="comma-separated groups whose images are private (default bacterial_pneumonia; '' for none)")
    p.add_argument("--covid-bands", nargs="+", metavar="MIX", default=None,
                   help="the COVID-19 severities' CT-band mix: 'inpatient' (the paper's test set: "
                        f"{' '.join(map(str, INPATIENT_BANDS))}), 'population' ({' '.join(map(str, POPULATION_BANDS))}"
                        ", what each case draws by default) or four probabilities of CT-1..CT-4")
    p = add("authors", "the paper authors' released test layout (test/<group>/images, test/covid/masks)")
    p.add_argument("--counts", type=_group_counts, default=dict(MOSMED_TEST_COUNTS),
                   help=f"cases per group (default {_default_counts()})")
    p.add_argument("--multi-rater-fraction", type=float, default=1 / 3)
    p = add("mosmed", "MosMedData COVID19_1110 (studies/CT-k, masks/)", spacing=MOSMED_SPACING, varies=False)
    p.add_argument("--counts", type=_counts, default=None,
                   help="studies per category, e.g. CT-0=5,CT-1=5 (default: --per-category each)")
    p.add_argument("--per-category", type=int, default=2, help="studies per category when --counts is not given")
    p.add_argument("--masks", type=int, default=2, help="CT-1 studies with a lesion mask (real set: 50)")
    p = add("medseg", "MedSeg's 9 Radiopaedia volumes (rp_im, rp_msk, rp_lung_msk)")
    p.add_argument("--n", type=int, default=9, help="volumes (default 9)")
    p = add("covid-ct-seg", "COVID-19-CT-Seg (Jun Ma): images, Infection_Mask, Lung_Mask, Lung_and_Infection_Mask")
    p.add_argument("--coronacases", type=int, default=10)
    p.add_argument("--radiopaedia", type=int, default=10)
    p = add("nsclc-radiomics", "NSCLC-Radiomics as DICOM series (TCIA layout) with PleThora thoracic-cavity masks",
            spacing=MOSMED_SPACING, varies=False)
    p.add_argument("--n", type=int, default=4, help="patients (default 4; the real set: 422)")
    p = add("sample", "a small public sample in the test-set layout")
    p.add_argument("--per-group", type=int, default=2)
    return parser


def _summary(out: Path) -> list[str]:
    """File counts per folder; per-rater folders (``<case>/rater1.nii.gz``…) are counted with their parent."""
    files = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    counts: Counter[str] = Counter()
    rater_dirs: dict[str, set[str]] = {}
    for f in files:
        if f.name.startswith("rater") and f.parent != Path("."):
            key = str(f.parent.parent)
            rater_dirs.setdefault(key, set()).add(str(f.parent))
        else:
            key = str(f.parent)
        counts[key] += 1
    lines = [f"wrote {len(files)} files under {out}/"]
    lines += [f"  {f}" for f in files if f.parent == Path(".")]
    for folder, n in sorted(counts.items()):
        if folder == ".":
            continue
        note = f" (incl. {len(rater_dirs[folder])} per-rater folders)" if folder in rater_dirs else ""
        lines.append(f"  {folder}/  {n} file{'s' if n != 1 else ''}{note}")
    return lines


def _band_mix(words: list[str] | None) -> tuple[float, ...] | None:
    """``--covid-bands``: a named mix or four probabilities (checked by the writer)."""
    if words is None:
        return None
    named = {"inpatient": INPATIENT_BANDS, "population": POPULATION_BANDS}
    if len(words) == 1 and words[0] in named:
        return named[words[0]]
    try:
        values = tuple(float(w) for w in words)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"--covid-bands: 'inpatient', 'population' or four probabilities, got "
                                         f"{' '.join(words)}")
    return values


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    common = dict(
        shape=tuple(args.shape),
        spacing=tuple(args.spacing),
        seed=args.seed,
        workers=args.workers,
        progress=not args.quiet,
    )
    vary = not getattr(args, "fixed_spacing", True)
    started = time.perf_counter()
    try:
        if args.layout == "testset":
            write_testset(args.out, counts=args.counts, name=args.name, version=args.version,
                          description=args.description, multi_rater_fraction=args.multi_rater_fraction,
                          private_groups=args.private_groups, covid_bands=_band_mix(args.covid_bands), **common,
                          vary_spacing=vary)
        elif args.layout == "authors":
            write_authors_layout(args.out, counts=args.counts, multi_rater_fraction=args.multi_rater_fraction,
                                 **common, vary_spacing=vary)
        elif args.layout == "mosmed":
            write_mosmed(args.out, per_category=args.counts if args.counts is not None else args.per_category,
                         n_masks=args.masks, **common)
        elif args.layout == "medseg":
            write_medseg(args.out, n=args.n, **common, vary_spacing=vary)
        elif args.layout == "covid-ct-seg":
            write_covid_ct_seg(args.out, n_coronacases=args.coronacases, n_radiopaedia=args.radiopaedia, **common,
                               vary_spacing=vary)
        elif args.layout == "nsclc-radiomics":
            from evaluator.phantoms.dicom import write_nsclc_radiomics

            write_nsclc_radiomics(args.out, n=args.n, **common)
        else:
            write_sample(args.out, per_group=args.per_group, **common, vary_spacing=vary)
    except (FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(_summary(args.out)))
    print(f"in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
