from django.contrib import admin, messages
from django.utils import timezone

from . import services
from .models import ApiToken, Invitation, Membership, MembershipPeriod, Team, TeamChangePolicy, VerifiedEmail


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]
    actions = ["rotate_tokens"]

    def get_readonly_fields(self, request, obj=None):
        return ["slug", "created_at"] if obj else []

    def save_model(self, request, obj, form, change):
        if not change and not obj.slug:
            obj.slug = services.unique_team_slug(obj.name)
        super().save_model(request, obj, form, change)

    def get_exclude(self, request, obj=None):
        return [] if obj else ["slug"]

    @admin.action(description="Rotate the API token (the new token is shown once)")
    def rotate_tokens(self, request, queryset):
        for team in queryset:
            token = services.rotate_token(team, by=request.user)
            self.message_user(request, f"New token of {team.name}: {token}", messages.WARNING)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "team", "role", "joined_at"]
    list_filter = ["role"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user", "team"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["team", "username", "created_at", "expires_at", "accepted_by", "revoked"]
    list_filter = ["revoked"]
    readonly_fields = ["token", "accepted_by", "accepted_at", "created_at"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are never shown or edited here (only their public prefix); rotate from the team list."""

    list_display = ["team", "prefix", "created_at", "last_used_at"]
    fields = readonly_fields = ("team", "prefix", "created_at", "created_by", "last_used_at")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(MembershipPeriod)
class MembershipPeriodAdmin(admin.ModelAdmin):
    """Who was in which team when (the quota follows people through it); team changes are approved here where a
    benchmark's team change policy asks for it. Look-alike accounts: /maintainers/look-alike-accounts/."""

    list_display = ["user", "team", "joined_at", "left_at", "is_change", "approved_at", "approved_by"]
    list_filter = ["is_change", ("approved_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "user__email", "team__name"]
    readonly_fields = ["user", "team", "joined_at", "left_at", "is_change", "approved_at", "approved_by"]
    actions = ["approve"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Approve the selected team changes")
    def approve(self, request, queryset):
        count = queryset.filter(is_change=True, approved_at__isnull=True).update(approved_at=timezone.now(),
                                                                                 approved_by=request.user)
        self.message_user(request, f"{count} team change(s) approved.")


@admin.register(TeamChangePolicy)
class TeamChangePolicyAdmin(admin.ModelAdmin):
    list_display = ["testset", "needs_approval"]


@admin.register(VerifiedEmail)
class VerifiedEmailAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "verified_at"]
    search_fields = ["user__username", "email"]
