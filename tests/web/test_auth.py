"""Sign-in, sign-out, password change and password reset pages."""

import re

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from tests.conftest import World

PASSWORD = "correct horse battery staple"  # tests.factories.UserFactory's password


@pytest.mark.django_db
def test_login_page_renders_the_form_and_the_reset_link(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Sign in · ITB pump clinic</title>" in html
    assert 'name="username"' in html and 'name="password"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert f'href="{reverse("password_reset")}"' in html
    assert "Forgot your password?" in html
    assert "/static/css/app.css" in html
    # Nobody is signed in: no menu, no sign-out button.
    assert "Sign out" not in html and 'aria-label="Main"' not in html


def test_wrong_password_shows_a_clear_error(client: Client, world: World) -> None:
    response = client.post(reverse("login"), {"username": "clinician", "password": "wrong"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Please enter a correct username and password" in html
    assert 'role="alert"' in html
    assert "_auth_user_id" not in client.session


def test_right_password_signs_in_and_goes_home(client: Client, world: World) -> None:
    response = client.post(reverse("login"), {"username": "clinician", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.session["_auth_user_id"] == str(world.clinician.pk)


def test_login_honours_a_safe_next_url(client: Client, world: World) -> None:
    response = client.post(
        reverse("login"),
        {"username": "nurse", "password": PASSWORD, "next": reverse("password_change")},
    )
    assert response["Location"] == reverse("password_change")


@pytest.mark.parametrize(
    "url_name", ["home", "web:caregiver", "password_change", "password_change_done"]
)
def test_anonymous_visitors_are_sent_to_sign_in(client: Client, world: World, url_name) -> None:
    url = reverse(url_name)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_sign_out_is_a_post_and_lands_on_sign_in(client: Client, world: World) -> None:
    client.force_login(world.clinician)
    assert client.get(reverse("logout")).status_code == 405  # GET does not sign out
    assert "_auth_user_id" in client.session
    response = client.post(reverse("logout"), follow=True)
    assert response.redirect_chain[-1][0] == reverse("login")
    assert "_auth_user_id" not in client.session
    assert "You have been signed out." in response.content.decode()


@pytest.mark.django_db
def test_logged_out_template_renders(client: Client) -> None:
    from django.template.loader import render_to_string

    html = render_to_string("registration/logged_out.html")
    assert "You are signed out" in html and reverse("login") in html


def test_password_change_works(client: Client, world: World) -> None:
    client.force_login(world.nurse)
    page = client.get(reverse("password_change"))
    assert page.status_code == 200
    assert 'name="old_password"' in page.content.decode()
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "a-new-Refill-pass-77",
            "new_password2": "a-new-Refill-pass-77",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("password_change_done")
    assert "Your password has been changed" in response.content.decode()
    world.nurse.refresh_from_db()
    assert world.nurse.check_password("a-new-Refill-pass-77")


def test_password_change_shows_field_errors(client: Client, world: World) -> None:
    client.force_login(world.nurse)
    response = client.post(
        reverse("password_change"),
        {"old_password": "wrong", "new_password1": "x1", "new_password2": "x2"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "field--error" in html
    assert "Your old password was entered incorrectly" in html
    world.nurse.refresh_from_db()
    assert world.nurse.check_password(PASSWORD)


def test_password_reset_sends_a_plain_email_without_patient_data(
    client: Client, world: World
) -> None:
    user = world.caregiver_a
    response = client.post(reverse("password_reset"), {"email": user.email}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("password_reset_done")
    assert "Check your email" in response.content.decode()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    assert message.subject == "ITB pump clinic: reset your password"
    patient = world.patient_a1
    for text in (message.subject, message.body):
        for private in (patient.given_name, patient.family_name, patient.mrn, "Clinic A"):
            assert private not in text
    assert user.username in message.body
    assert "&amp;" not in message.body and "&#x27;" not in message.body  # plain text

    # The link in the email lets the user choose a new password.
    link = re.search(r"https?://testserver(/accounts/reset/\S+/)", str(message.body))
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert "Choose a new password" in form.content.decode()
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "fresh-Pump-pass-31", "new_password2": "fresh-Pump-pass-31"},
        follow=True,
    )
    assert "Your new password is set" in done.content.decode()
    user.refresh_from_db()
    assert user.check_password("fresh-Pump-pass-31")


def test_password_reset_for_an_unknown_address_sends_nothing(client: Client, world: World) -> None:
    response = client.post(reverse("password_reset"), {"email": "nobody@example.invalid"})
    assert response.status_code == 302  # same answer: does not reveal which addresses exist
    assert mail.outbox == []


def test_a_bad_reset_link_says_so(client: Client, world: World) -> None:
    response = client.get(
        reverse("password_reset_confirm", kwargs={"uidb64": "MQ", "token": "bad-token"})
    )
    assert "This link no longer works" in response.content.decode()
