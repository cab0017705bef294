"""URL map: public board, team pages, REST API and its documentation, admin."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from leaderboard.accounts import api as accounts_api
from leaderboard.accounts import views as accounts
from leaderboard.board import views as board
from leaderboard.board.api import LeaderboardView
from leaderboard.site import views as site
from leaderboard.submissions import api as submissions_api
from leaderboard.submissions import views as submissions
from leaderboard.testsets import api as testsets_api
from leaderboard.testsets import views as testsets

api = [
    path("submissions/", submissions_api.SubmissionListCreate.as_view(), name="api-submissions"),
    path("submissions/<int:pk>/", submissions_api.SubmissionDetail.as_view(), name="api-submission"),
    path("submissions/<int:pk>/per-case/", submissions_api.SubmissionPerCase.as_view(), name="api-submission-cases"),
    path("submissions/<int:pk>/final/", submissions_api.SubmissionFinalChoice.as_view(), name="api-submission-final"),
    path("leaderboard/", LeaderboardView.as_view(), name="api-leaderboard"),
    path("testsets/", testsets_api.TestSetList.as_view(), name="api-testsets"),
    path("testsets/<slug:slug>/container-limits/", submissions_api.ContainerLimits.as_view(),
         name="api-container-limits"),
    path("team/", accounts_api.TeamStatus.as_view(), name="api-team"),
    path("team/token/", accounts_api.TokenRotate.as_view(), name="api-token-rotate"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", site.api_docs, name="api-docs"),
    path("docs/swagger/", SpectacularSwaggerSplitView.as_view(url_name="api-schema",  # no inline script (CSP)
                                                              template_name="site/swagger_ui.html"),
         name="api-swagger"),
]

urlpatterns = [
    path("", board.board, name="board"),
    path("boards/<slug:slug>/", board.board, name="board-testset"),
    path("entries/<int:pk>/", board.entry, name="entry"),
    path("about/", site.about, name="about"),
    path("guide/<slug:name>/", site.participant_doc, name="guide"),
    path("downloads/", testsets.downloads, name="downloads"),
    path("downloads/sample/<int:pk>/", testsets.sample_download, name="download-sample"),
    path("downloads/public-images/<int:pk>/", testsets.public_images_download, name="download-public-images"),
    path("submissions/", submissions.submission_list, name="submissions"),
    path("submissions/new/", submissions.submission_new, name="submission-new"),
    path("submissions/<int:pk>/", submissions.submission_detail, name="submission-detail"),
    path("submissions/<int:pk>/edit/", submissions.submission_edit, name="submission-edit"),
    path("submissions/<int:pk>/final/", submissions.submission_final, name="submission-final"),
    path("submissions/<int:pk>/archive/", submissions.submission_archive, name="submission-archive"),
    path("evaluations/<int:pk>/cases/", submissions.evaluation_cases, name="evaluation-cases"),
    path("evaluations/<int:pk>/cases.csv", submissions.evaluation_cases_csv, name="evaluation-cases-csv"),
    path("team/", accounts.team, name="team"),
    path("team/create/", accounts.team_create, name="team-create"),
    path("team/invite/", accounts.team_invite, name="team-invite"),
    path("team/token/", accounts.token_rotate, name="token-rotate"),
    path("team/leave/", accounts.team_leave, name="team-leave"),
    path("invitations/<str:token>/", accounts.invitation, name="invitation"),
    path("accounts/verify/send/", accounts.email_verify_send, name="email-verify-send"),
    path("accounts/verify/<str:token>/", accounts.email_verify, name="email-verify"),
    path("maintainers/look-alike-accounts/", accounts.lookalike_accounts, name="lookalike-accounts"),
    path("accounts/signup/", accounts.signup, name="signup"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/", include(api)),
    path("admin/", admin.site.urls),
]

admin.site.site_header = "Leaderboard maintenance"
admin.site.site_title = "Leaderboard admin"
