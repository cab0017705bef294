from django.apps import AppConfig


class SiteConfig(AppConfig):
    name = "leaderboard.site"
    label = "site_pages"
    verbose_name = "Site"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
