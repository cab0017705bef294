"""What tells cached boards apart: an append-only log of changes that can alter a board."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class BoardChange(models.Model):
    """One row per change that may alter a board (an evaluation done or removed, a submission, team, test set,
    label version or reported row saved or deleted), inserted in the same transaction as the change.

    The number of rows is the *board revision* that keys cached boards: it grows with every committed
    change (rows are never updated, so writers never wait on each other), and a reader that counts first and
    builds afterwards never caches an older board under a newer revision.
    """

    at = models.DateTimeField(default=timezone.now, help_text="When the change was made.")
    what = models.CharField(max_length=60, help_text="The model that changed.")

    class Meta:
        verbose_name = "board change"

    def __str__(self) -> str:
        return f"{self.what} at {self.at:%Y-%m-%d %H:%M:%S}"
