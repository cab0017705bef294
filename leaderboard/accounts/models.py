"""Teams, their members, invitations and the team's API token."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from leaderboard.frozen import FrozenFieldsModel


class Team(FrozenFieldsModel):
    frozen_fields = ("slug", "created_at")

    name = models.CharField(max_length=80, unique=True, help_text="Shown on the board next to every entry.")
    slug = models.SlugField(max_length=80, unique=True, help_text="URL-safe form of the name; fixed at creation.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the team was created.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="The account that created the team.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner (invites members, rotates the token)"
        MEMBER = "member", "Member"

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships",
                             help_text="The team the user belongs to.")
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership",
                                help_text="An account belongs to at most one team.")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER,
                            help_text="Owners may invite members and rotate the team's API token.")
    joined_at = models.DateTimeField(default=timezone.now, help_text="When the user joined.")

    class Meta:
        ordering = ["joined_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations",
                             help_text="The team the invitee may join.")
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="The member who created the invitation.")
    username = models.CharField(max_length=150, blank=True,
                                help_text="If set, only this account may accept; else anyone with the link.")
    token = models.CharField(max_length=64, unique=True, editable=False,
                             help_text="Secret part of the invitation link.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When the invitation was made.")
    expires_at = models.DateTimeField(help_text="The link stops working after this time.")
    accepted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="Who accepted it (single use).")
    accepted_at = models.DateTimeField(null=True, blank=True, help_text="When it was accepted.")
    revoked = models.BooleanField(default=False, help_text="Revoked invitations cannot be accepted.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invitation to {self.team}" + (f" for {self.username}" if self.username else "")

    def is_open(self, *, now=None) -> bool:
        return not self.revoked and self.accepted_at is None and (now or timezone.now()) < self.expires_at


class ApiToken(models.Model):
    """The team's API token; only a SHA-256 digest is stored, the token itself is shown once."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="api_token",
                                help_text="Each team has one token; rotating replaces it.")
    prefix = models.CharField(max_length=16, unique=True,
                              help_text="Public first part of the token (identifies it in logs and the admin).")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the whole token; the token is never stored.")
    created_at = models.DateTimeField(default=timezone.now, help_text="When this token was issued.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", help_text="Who issued it (empty: the command line).")
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Last API call (to the minute).")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.team})"


class MembershipPeriod(models.Model):
    """One account's time in one team (the history :class:`Membership` does not keep).

    The quota follows people through it: a team's quota counts the submissions of every team its
    current members were in, made while they were there (``leaderboard.submissions.quota``). A
    period that follows an earlier one is a *team change*: it starts the cool-down, and where a test
    set's :class:`TeamChangePolicy` asks for it, a maintainer approves it before the team submits there.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_periods",
                             help_text="The account.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="member_periods",
                             help_text="The team it was in.")
    joined_at = models.DateTimeField(default=timezone.now, help_text="When it joined (or created) the team.")
    left_at = models.DateTimeField(null=True, blank=True, help_text="When it left; empty while still a member.")
    is_change = models.BooleanField(default=False, help_text="The account had been in another team before.")
    approved_at = models.DateTimeField(null=True, blank=True,
                                       help_text="When a maintainer approved this team change.")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", help_text="The maintainer who approved it.")

    class Meta:
        ordering = ["-joined_at"]
        indexes = [models.Index(fields=["team", "joined_at"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} from {self.joined_at:%Y-%m-%d %H:%M}"

    @property
    def awaits_approval(self) -> bool:
        return self.is_change and self.approved_at is None


class TeamChangePolicy(models.Model):
    """Per benchmark: whether a member's team change needs a maintainer's approval before the team submits."""

    testset = models.OneToOneField("testsets.TestSet", on_delete=models.CASCADE, related_name="team_change_policy",
                                   help_text="The benchmark this applies to.")
    needs_approval = models.BooleanField(default=True, help_text="A team with a member who changed team cannot "
                                                                 "submit here until a maintainer approves the change.")

    class Meta:
        verbose_name_plural = "team change policies"

    def __str__(self) -> str:
        return f"team changes on {self.testset}: {'approval' if self.needs_approval else 'free'}"


class VerifiedEmail(models.Model):
    """The e-mail address an account proved it receives (``LEADERBOARD_REQUIRE_VERIFIED_EMAIL``)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="verified_email",
                                help_text="The account.")
    email = models.EmailField(help_text="The address verified; changing the account's address needs a new proof.")
    verified_at = models.DateTimeField(default=timezone.now, help_text="When the link was opened.")

    def __str__(self) -> str:
        return f"{self.email} ({self.user})"
