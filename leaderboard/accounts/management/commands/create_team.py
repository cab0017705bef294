"""``manage.py create_team NAME --user USERNAME``: create what is missing and print the team's API token."""

from django.core.management.base import BaseCommand, CommandError

from leaderboard.accounts.services import TeamError, ensure_team


class Command(BaseCommand):
    help = ("Create the user (without a password unless one is set later), the team and the membership where "
            "missing, and print the team's API token. Tokens are stored hashed: an existing token cannot be shown "
            "again, --rotate-token issues a new one.")

    def add_arguments(self, parser):
        parser.add_argument("name", help="team name")
        parser.add_argument("--user", required=True, help="username of the member (created if missing)")
        parser.add_argument("--rotate-token", action="store_true", help="issue a new token even if one exists")

    def handle(self, *args, name, user, rotate_token, **options):
        try:
            result = ensure_team(name=name, username=user, rotate=rotate_token)
        except TeamError as error:
            raise CommandError(str(error)) from None
        for done, what in ((result.user_created, f"user {user} (no password: set one with `manage.py "
                                                  f"changepassword {user}`)"),
                           (result.team_created, f"team {result.team.name}"),
                           (result.membership_created, f"membership of {user} in {result.team.name}")):
            if done:
                self.stderr.write(f"created {what}")
        if result.token is None:
            self.stderr.write(f"team {result.team.name} already has a token (stored hashed, cannot be shown); "
                              "use --rotate-token to issue a new one")
            return
        self.stderr.write(f"API token of team {result.team.name} (shown once, keep it secret):")
        self.stdout.write(result.token)
