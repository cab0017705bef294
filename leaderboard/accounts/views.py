"""Sign-up and the team page: create a team, invite, join, leave, rotate the API token."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model, login
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from leaderboard.submissions.quota import quota_status

from . import services, verification
from .access import team_of
from .forms import InviteForm, SignUpForm, TeamForm
from .lookalike import Account, lookalike_groups
from .models import ApiToken, Invitation

NEW_TOKEN_SESSION_KEY = "new_api_token"


def signup(request: HttpRequest) -> HttpResponse:
    if not settings.LEADERBOARD_SIGNUP_OPEN:
        raise Http404("sign-up is closed on this site")
    # ?next= (e.g. an invitation link) survives the sign-up, as it survives the log-in
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    next_url = wanted if url_has_allowed_host_and_scheme(wanted, allowed_hosts={request.get_host()},
                                                         require_https=request.is_secure()) else ""
    if request.user.is_authenticated:
        return redirect(next_url or "team")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, "Welcome! Create a team, or open the invitation link a team sent you.")
        if settings.LEADERBOARD_REQUIRE_VERIFIED_EMAIL:
            verification.send_link(user, absolute=request.build_absolute_uri)
            messages.info(request, f"We sent a link to {user.email}: open it to confirm your address before your "
                                   "team submits.")
        return redirect(next_url or "team")
    return render(request, "accounts/signup.html", {"form": form, "next": next_url},
                  status=400 if form.errors else 200)


@login_required
def team(request: HttpRequest) -> HttpResponse:
    current = team_of(request.user)
    context: dict = {"team": current}
    if current is None:
        context["form"] = TeamForm()
        context["invitations"] = [i for i in Invitation.objects.filter(username=request.user.get_username())
                                  .select_related("team") if i.is_open()]
        return render(request, "accounts/no_team.html", context)
    context.update({
        "memberships": current.memberships.select_related("user"),
        "is_owner": services.is_owner(current, request.user),
        "invitations": [i for i in current.invitations.all() if i.is_open()],
        "invite_form": InviteForm(),
        "token": ApiToken.objects.filter(team=current).first(),
        "new_token": request.session.pop(NEW_TOKEN_SESSION_KEY, None),
        "quota": quota_status(current),
        "now": timezone.now(),
        "email_unverified": settings.LEADERBOARD_REQUIRE_VERIFIED_EMAIL and not verification.is_verified(request.user),
    })
    return render(request, "accounts/team.html", context)


@login_required
@require_POST
def team_create(request: HttpRequest) -> HttpResponse:
    form = TeamForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A team needs a name of at most 80 characters.")
        return redirect("team")
    try:
        _, token = services.create_team(name=form.cleaned_data["name"], owner=request.user)
    except services.TeamError as error:
        messages.error(request, str(error))
        return redirect("team")
    request.session[NEW_TOKEN_SESSION_KEY] = token
    messages.success(request, "Team created.")
    return redirect("team")


@login_required
@require_POST
def team_invite(request: HttpRequest) -> HttpResponse:
    current = team_of(request.user)
    form = InviteForm(request.POST)
    if current is None or not form.is_valid():
        raise Http404
    try:
        invitation = services.invite(current, by=request.user, username=form.cleaned_data["username"])
    except services.TeamError as error:
        messages.error(request, str(error))
    else:
        link = request.build_absolute_uri(reverse("invitation", args=[invitation.token]))
        messages.success(request, f"Invitation link (valid {services.INVITATION_DAYS} days, single use): {link}")
    return redirect("team")


@login_required
@require_POST
def token_rotate(request: HttpRequest) -> HttpResponse:
    current = team_of(request.user)
    if current is None:
        raise Http404
    # every member may: the token is stored hashed, so issuing a new one is how a member gets to use the API
    request.session[NEW_TOKEN_SESSION_KEY] = services.rotate_token(current, by=request.user)
    messages.success(request, "New token issued; the old one no longer works.")
    return redirect("team")


@login_required
@require_POST
def team_leave(request: HttpRequest) -> HttpResponse:
    try:
        services.leave_team(request.user)
    except services.TeamError as error:
        messages.error(request, str(error))
    else:
        messages.success(request, "You left the team.")
    return redirect("team")


@login_required
def invitation(request: HttpRequest, token: str) -> HttpResponse:
    found = get_object_or_404(Invitation.objects.select_related("team"), token=token)
    if request.method == "POST":
        try:
            services.accept_invitation(token, user=request.user)
        except services.TeamError as error:
            messages.error(request, str(error))
        else:
            messages.success(request, f"You joined {found.team.name}.")
        return redirect("team")
    return render(request, "accounts/invitation.html", {"invitation": found, "valid": found.is_open()})


@login_required
@require_POST
def email_verify_send(request: HttpRequest) -> HttpResponse:
    email = getattr(request.user, "email", "")  # @login_required: a real account
    if not email:
        messages.error(request, "Your account has no e-mail address; ask a maintainer to add one.")
    else:
        verification.send_link(request.user, absolute=request.build_absolute_uri)
        messages.success(request, f"Link sent to {email} (valid {verification.LINK_DAYS} days).")
    return redirect("team")


def email_verify(request: HttpRequest, token: str) -> HttpResponse:
    """The mailed link: confirms the address it was sent to (no login needed; the link is the proof)."""
    user = verification.confirm(token)
    if user is None:
        messages.error(request, "This link is not valid (expired, or the address changed since); send a new one "
                                "from your team page.")
    else:
        messages.success(request, f"Thank you: {user.email} is confirmed.")
    return redirect("team" if request.user.is_authenticated else "login")


@staff_member_required
def lookalike_accounts(request: HttpRequest) -> HttpResponse:
    """Maintainers: accounts with one e-mail domain created close together (a hint, not a verdict)."""
    hours = settings.LEADERBOARD_LOOKALIKE_HOURS
    users = get_user_model().objects.select_related("membership__team").only(
        "username", "email", "date_joined", "membership__team__name")
    accounts = [Account(u.username, u.email, u.date_joined,
                        u.membership.team.name if hasattr(u, "membership") else None) for u in users]
    return render(request, "accounts/lookalike.html",
                  {"groups": lookalike_groups(accounts, within=timedelta(hours=hours)), "hours": hours})
