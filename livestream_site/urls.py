"""URL routes: the REST API under /api/, the admin, the health check and the pages."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.api import MeView, RegisterView, TokenView
from chat.api import chat_url_patterns
from payments.api import PaymentConfirmView, StreamAccessView, StreamPaymentView, StreamRevenueView, stripe_webhook
from streams.api import LiveStreamViewSet
from streams.views import dashboard_page, stream_list_page, stream_page

from .api import OptionalSlashRouter
from .views import healthz

router = OptionalSlashRouter()
router.register("livestreams", LiveStreamViewSet, basename="livestream")

api_patterns = [
    re_path(r"^auth/register/?$", RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/token/?$", TokenView.as_view(), name="auth-token"),
    re_path(r"^auth/me/?$", MeView.as_view(), name="auth-me"),
    re_path(r"^schema/?$", SpectacularAPIView.as_view(), name="schema"),
    re_path(r"^docs/?$", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    re_path(r"^livestreams/(?P<pk>[^/]+)/access/?$", StreamAccessView.as_view(), name="livestream-access"),
    re_path(r"^livestreams/(?P<pk>[^/]+)/payment/?$", StreamPaymentView.as_view(), name="livestream-payment"),
    re_path(r"^livestreams/(?P<pk>[^/]+)/revenue/?$", StreamRevenueView.as_view(), name="livestream-revenue"),
    re_path(r"^payments/confirm/?$", PaymentConfirmView.as_view(), name="payments-confirm"),
    re_path(r"^payments/webhook/?$", stripe_webhook, name="payments-webhook"),
    *chat_url_patterns(),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    re_path(r"^healthz/?$", healthz, name="healthz"),
    path("", include("streams.media.urls")),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", stream_list_page, name="stream-list"),
    path("streams/<str:stream_id>/", stream_page, name="stream-page"),
    path("dashboard/", dashboard_page, name="dashboard"),
]

handler404 = "livestream_site.views.not_found"
