"""Case groups of Mosmed-Test and the visibility of their images."""

from __future__ import annotations

from enum import StrEnum


class Group(StrEnum):
    """Diagnosis group of a test case (Sec. 3.5 of the paper)."""

    COVID = "covid"
    BACTERIAL_PNEUMONIA = "bacterial_pneumonia"
    NODULES = "nodules"
    NORMAL = "normal"


class Distribution(StrEnum):
    """Who may see a case's image.

    ``public``: the image may be handed to registered teams (archive submissions are
    scored on these cases only). ``private``: only containers run by the server see it.
    """

    PUBLIC = "public"
    PRIVATE = "private"


#: The paper's four ROC-AUC subsets: COVID-19 against these negative groups.
ROC_SUBSETS: dict[str, tuple[Group, ...]] = {
    "all": (Group.BACTERIAL_PNEUMONIA, Group.NODULES, Group.NORMAL),
    "normal": (Group.NORMAL,),
    "bacterial_pneumonia": (Group.BACTERIAL_PNEUMONIA,),
    "nodules": (Group.NODULES,),
}


#: What a case id may look like: it becomes a file name in test sets and archives.
CASE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
