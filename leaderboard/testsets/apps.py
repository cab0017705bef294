from django.apps import AppConfig


class TestsetsConfig(AppConfig):
    name = "leaderboard.testsets"
    verbose_name = "Test sets and label versions"
