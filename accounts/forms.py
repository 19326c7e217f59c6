"""Forms of the account pages: sign-up with the choice of fan or artist."""

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms
from django.conf import settings

from livestream_site.errors import ApplicationError

from .models import User
from .services import signup_role_check

ROLE_LABELS = {
    User.Role.VIEWER: "Fan: watch shows, buy tickets, follow artists",
    User.Role.ARTIST: "Artist: host shows",
}


class SignupForm(AllauthSignupForm):
    """allauth's sign-up, plus the role: artist is offered only while ALLOW_ARTIST_SIGNUP allows it, and
    refused (by the same rule as the API's) when posted anyway."""

    role = forms.ChoiceField(label="I am a", widget=forms.RadioSelect, initial=User.Role.VIEWER, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        roles = [User.Role.VIEWER, User.Role.ARTIST] if settings.ALLOW_ARTIST_SIGNUP else [User.Role.VIEWER]
        # Any valid role is accepted by the field, so a closed artist sign-up gets its own message.
        self.fields["role"].choices = [(role, ROLE_LABELS[role]) for role in User.Role]
        self.offered_roles = [(role.value, ROLE_LABELS[role]) for role in roles]

    def clean_role(self) -> str:
        role = self.cleaned_data["role"] or User.Role.VIEWER  # no choice: a fan
        try:
            signup_role_check(role=role)
        except ApplicationError as refused:
            raise forms.ValidationError(refused.message, code=refused.code) from None
        return role
