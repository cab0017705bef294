from django.apps import AppConfig


class BoardConfig(AppConfig):
    name = "leaderboard.board"
    verbose_name = "Public board"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import revision

        revision.connect()
        from leaderboard import feedback

        feedback.connect()
        from . import statistics

        statistics.connect()
