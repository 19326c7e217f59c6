"""django-allauth's adapter for the platform: the role chosen at sign-up is saved with the new user."""

from allauth.account.adapter import DefaultAccountAdapter

from .models import User
from .services import signup_role_check


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        role = form.cleaned_data.get("role") or User.Role.VIEWER
        signup_role_check(role=role)  # the form said so already; the rule is enforced where the user is made
        user.role = role
        return super().save_user(request, user, form, commit=commit)
