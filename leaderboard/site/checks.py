"""System checks run at start-up (``manage.py check``, the web server, the worker)."""

from django.core.checks import Error, register

from leaderboard.storage import check_storage_split, private_storage, public_storage


@register("security", deploy=False)
def storage_split(app_configs, **kwargs):
    """The private storage must refuse URLs and stay apart from public, media and static files."""
    return [Error(reason, hint="See docs/site.md, 'Storage'.", id="leaderboard.E001")
            for reason in check_storage_split(private_storage(), public_storage())]
