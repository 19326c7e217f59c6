"""Routes of accounts: registration, tokens and follows under /api/, and the account pages (django-allauth's,
the sign-in and sign-up throttled) with the follow button and the unsubscribe link."""

from allauth.account import views as allauth_views
from django.urls import include, path, re_path

from . import api, views

api_urlpatterns = [
    re_path(r"^auth/register/?$", api.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/token/?$", api.TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/me/?$", api.MeView.as_view(), name="auth-me"),
    re_path(r"^artists/(?P<artist_id>[0-9]+)/follow/?$", api.FollowView.as_view(), name="artist-follow"),
]
login = views.LoginView.as_view()
urlpatterns = [
    # Before allauth's own routes, which these replace; "login" stays a name of the sign-in page.
    path("accounts/login/", login, name="account_login"),
    path("accounts/login/", login, name="login"),
    path("accounts/logout/", allauth_views.logout, name="logout"),
    path("accounts/signup/", views.SignupView.as_view(), name="account_signup"),
    path("accounts/", views.account_page, name="account"),
    path("accounts/token/", views.token_rotate_page, name="account-token"),
    path("accounts/follow-emails/", views.follow_emails_page, name="account-follow-emails"),
    path("accounts/unsubscribe/<str:token>/", views.unsubscribe_page, name="follow-emails-unsubscribe"),
    path("accounts/", include("allauth.urls")),
    path("artists/<int:artist_id>/follow/", views.follow_page, name="artist-follow-page"),
]
