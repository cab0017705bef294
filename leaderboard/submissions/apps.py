from django.apps import AppConfig


class SubmissionsConfig(AppConfig):
    name = "leaderboard.submissions"
    verbose_name = "Submissions and evaluations"

    def ready(self) -> None:
        from . import signals  # noqa: F401  (worker start-up hook)
