"""Model fields that must never change once a row exists.

A model lists them in ``frozen_fields``; ``save()`` of a loaded row refuses to write a
changed value (``FrozenFieldError``). The admin shows them read-only. Bulk ``update()``
bypasses this by design: only the services layer uses it, and never on these fields.
"""

from __future__ import annotations

from typing import ClassVar

from django.db import models


class FrozenFieldError(ValueError):
    """An attempt to change a field that is fixed at creation."""


class FrozenFieldsModel(models.Model):
    frozen_fields: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._frozen_snapshot = instance._frozen_values()
        return instance

    def _frozen_values(self) -> dict[str, object]:
        values = {}
        for name in self.frozen_fields:
            field = self._meta.get_field(name)
            attname = getattr(field, "attname", name)
            if attname in self.__dict__:  # deferred fields are not compared
                value = getattr(self, attname)
                values[name] = value.name if isinstance(field, models.FileField) else value
        return values

    def save(self, *args, **kwargs):
        snapshot = getattr(self, "_frozen_snapshot", None)
        if snapshot is not None and not self._state.adding:
            current = self._frozen_values()
            changed = sorted(name for name, value in snapshot.items() if current.get(name, value) != value)
            if changed:
                raise FrozenFieldError(f"{type(self).__name__} {self.pk}: {', '.join(changed)} cannot be changed "
                                       "after creation")
        super().save(*args, **kwargs)
        self._frozen_snapshot = self._frozen_values()
