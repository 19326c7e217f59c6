"""The account pages: sign-in and sign-up (django-allauth's, throttled like the API), the account page with
the API token and the follower e-mails setting, follow buttons, and the one-click unsubscribe link."""

from allauth.account import views as allauth_views
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from livestream_site.errors import ApplicationError

from .selectors import followed_artists, user_api_token
from .services import (
    follow_create,
    follow_delete,
    follow_emails_unsubscribe,
    user_follow_emails_set,
    user_token_rotate,
)
from .throttles import Throttled, login_attempt_check, login_failure_record, signup_attempt_check


def _throttled_page(view, throttled: Throttled):
    """The page again, with 429, Retry-After and the reason; the form is not checked (nor the password)."""
    response = view.render_to_response(
        view.get_context_data(form=view.get_form_class()(**{"request": view.request}), throttled=throttled.message),
        status=429,
    )
    response["Retry-After"] = str(throttled.retry_after)
    return response


class LoginView(allauth_views.LoginView):
    """allauth's sign-in page: a throttled address or account gets the page again with 429 and Retry-After."""

    def post(self, request, *args, **kwargs):
        try:
            login_attempt_check(username=request.POST.get("login", ""), address=request.META.get("REMOTE_ADDR", ""))
        except Throttled as throttled:
            return _throttled_page(self, throttled)
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        login_failure_record(username=self.request.POST.get("login", ""))
        return super().form_invalid(form)


class SignupView(allauth_views.SignupView):
    """allauth's sign-up page (fan or artist), counted per address like the API's registration."""

    def post(self, request, *args, **kwargs):
        try:
            signup_attempt_check(address=request.META.get("REMOTE_ADDR", ""))
        except Throttled as throttled:
            response = self.render_to_response(
                self.get_context_data(form=self.get_form_class()(), throttled=throttled.message), status=429
            )
            response["Retry-After"] = str(throttled.retry_after)
            return response
        return super().post(request, *args, **kwargs)


@login_required
def account_page(request):
    context = {"token": user_api_token(user=request.user), "followed": followed_artists(fan=request.user)}
    return render(request, "account/account.html", context)


@login_required
@require_POST
def token_rotate_page(request):
    had_one = user_api_token(user=request.user) is not None
    user_token_rotate(user=request.user)
    messages.success(
        request, "A new API token was made; the old one no longer works." if had_one else "Your API token was made."
    )
    return HttpResponseRedirect(reverse("account"))


@login_required
@require_POST
def follow_emails_page(request):
    enabled = request.POST.get("follow_emails") == "on"
    user_follow_emails_set(user=request.user, enabled=enabled)
    messages.success(
        request, "You will get e-mails about the artists you follow." if enabled else "Follower e-mails are off."
    )
    return HttpResponseRedirect(reverse("account"))


def _back(request, fallback: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False):
        target = fallback
    return HttpResponseRedirect(target or fallback)


@login_required
@require_POST
def follow_page(request, artist_id: int):
    """The follow button of the artist page (a form, so it works without JavaScript)."""
    fallback = reverse("artist-page", args=[artist_id])
    try:
        if request.POST.get("action") == "unfollow":
            follow_delete(fan=request.user, artist_id=artist_id)
            messages.success(request, "You no longer follow this artist.")
        else:
            follow = follow_create(fan=request.user, artist_id=artist_id)
            messages.success(
                request,
                f"You follow {follow.artist.username}: you will hear of new shows and when they go live."
                if request.user.follow_emails
                else f"You follow {follow.artist.username}. Follower e-mails are off on your account page.",
            )
    except ApplicationError as refused:
        if refused.status_code == 404:
            raise Http404(refused.message) from None
        messages.error(request, refused.message)
    return _back(request, fallback)


@csrf_exempt  # the signed token is the authority; mail clients POST here for one-click (RFC 8058)
@require_http_methods(["GET", "POST"])
def unsubscribe_page(request, token: str):
    """GET asks (link scanners must not unsubscribe anyone); POST turns the follower e-mails off."""
    context = {"token": token, "done": False, "invalid": ""}
    if request.method == "POST":
        try:
            follow_emails_unsubscribe(token=token)
            context["done"] = True
        except ApplicationError as refused:
            context["invalid"] = refused.message
            return render(request, "account/unsubscribe.html", context, status=400)
    return render(request, "account/unsubscribe.html", context)
