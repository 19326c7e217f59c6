"""The sign-in page, throttled like the token endpoint."""

from django.contrib.auth import views as auth_views

from .throttles import Throttled, login_attempt_check, login_failure_record


class LoginView(auth_views.LoginView):
    """Django's sign-in page: a throttled address or account gets the page again with 429 and Retry-After."""

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        try:
            login_attempt_check(username=username, address=request.META.get("REMOTE_ADDR", ""))
        except Throttled as throttled:
            context = self.get_context_data(form=self.get_form(), throttled=throttled.message)
            response = self.render_to_response(context, status=429)
            response["Retry-After"] = str(throttled.retry_after)
            return response
        return super().post(request, *args, **kwargs)

    def form_invalid(self, form):
        login_failure_record(username=self.request.POST.get("username", ""))
        return super().form_invalid(form)
