from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=True, help_text="For the maintainers to reach you about your submissions.")

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class TeamForm(forms.Form):
    name = forms.CharField(max_length=80, label="Team name", help_text="Shown on the board next to your entries.")


class InviteForm(forms.Form):
    username = forms.CharField(max_length=150, required=False, label="Username",
                               help_text="Only this account may use the link; leave empty for a single-use link "
                                         "anyone can use.")
