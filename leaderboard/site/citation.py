"""How to cite the software and the paper, for the about page; the same facts as CITATION.cff (a test checks)."""

from __future__ import annotations

from dataclasses import dataclass

import evaluator

SOFTWARE_TITLE = "COVID-19 CT triage leaderboard: evaluation server, scorer and reference models"
SOFTWARE_AUTHORS = "The COVID-19 CT triage leaderboard contributors"
SOFTWARE_LICENSE = "Apache-2.0"


@dataclass(frozen=True)
class Paper:
    """The article that defines the benchmark (CITATION.cff's preferred-citation)."""

    authors: tuple[tuple[str, str], ...]  # (family name, given names)
    title: str
    journal: str
    volume: int
    article: int
    year: int
    doi: str
    arxiv: str

    def text(self) -> str:
        names = ", ".join(f"{given[0]}. {family}" for family, given in self.authors)
        return f"{names}. {self.title}. {self.journal} {self.volume} ({self.year}) {self.article}."

    def bibtex(self) -> str:
        authors = " and ".join(f"{family}, {given}" for family, given in self.authors)
        return (f"@article{{goncharov{self.year}ct,\n  author  = {{{authors}}},\n  title   = {{{self.title}}},\n"
                f"  journal = {{{self.journal}}},\n  volume  = {{{self.volume}}},\n  pages   = {{{self.article}}},\n"
                f"  year    = {{{self.year}}},\n  doi     = {{{self.doi}}},\n  eprint  = {{{self.arxiv}}},\n"
                "  archivePrefix = {arXiv}\n}")


PAPER = Paper(
    authors=(("Goncharov", "Mikhail"), ("Pisov", "Maxim"), ("Shevtsov", "Alexey"), ("Shirokikh", "Boris"),
             ("Kurmukov", "Anvar"), ("Blokhin", "Ivan"), ("Chernina", "Valeria"), ("Solovev", "Alexander"),
             ("Gombolevskiy", "Victor"), ("Morozov", "Sergey"), ("Belyaev", "Mikhail")),
    title="CT-based COVID-19 Triage: Deep Multitask Learning Improves Joint Identification and Severity "
          "Quantification",
    journal="Medical Image Analysis", volume=71, article=102054, year=2021, doi="10.1016/j.media.2021.102054",
    arxiv="2006.01441",
)


def software_bibtex() -> str:
    """The software, with the scorer version that produced the numbers being cited."""
    return (f"@software{{covid_ct_triage_leaderboard,\n  author  = {{{{{SOFTWARE_AUTHORS}}}}},\n"
            f"  title   = {{{SOFTWARE_TITLE}}},\n  version = {{scorer {evaluator.SCORER_VERSION}}},\n"
            f"  license = {{{SOFTWARE_LICENSE}}}\n}}")
