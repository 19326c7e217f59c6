"""Routes of accounts: registration and tokens under /api/, and the sign-in pages."""

from django.contrib.auth import views as auth_views
from django.urls import path, re_path

from . import api, views

api_urlpatterns = [
    re_path(r"^auth/register/?$", api.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/token/?$", api.TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/me/?$", api.MeView.as_view(), name="auth-me"),
]
urlpatterns = [
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
]
