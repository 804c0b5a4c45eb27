"""The menu by role, and the shared layout."""

import pytest
from django.test import Client
from django.urls import reverse

from tests.conftest import World
from web import navigation
from web.navigation import build_navigation


def _nav_html(client: Client, url: str) -> str:
    html = client.get(url).content.decode()
    return html.split('aria-label="Main"', 1)[1].split("</nav>", 1)[0]


def test_clinician_menu(client: Client, world: World) -> None:
    nav = build_navigation(world.clinician)
    assert nav.urls["home"] == "/"
    assert nav.urls["password_change"] == reverse("password_change")
    assert "web:caregiver" not in nav.urls and "admin:index" not in nav.urls
    assert nav.role_labels == ["Clinician"]

    client.force_login(world.clinician)
    html = _nav_html(client, reverse("home"))
    assert ">Refill board</a>" in html and ">Change password</a>" in html
    assert "My patients" not in html and ">Admin<" not in html
    assert 'href="/" aria-current="page"' in html


def test_nurse_menu_matches_the_clinician(world: World) -> None:
    assert build_navigation(world.nurse).urls == build_navigation(world.clinician).urls
    assert build_navigation(world.nurse).role_labels == ["Nurse"]


def test_caregiver_menu(client: Client, world: World) -> None:
    nav = build_navigation(world.caregiver_a)
    assert set(nav.urls) == {"web:caregiver", "password_change"}
    client.force_login(world.caregiver_a)
    html = _nav_html(client, reverse("web:caregiver"))
    assert ">My patients</a>" in html and "Refill board" not in html
    assert f'href="{reverse("web:caregiver")}" aria-current="page"' in html


def test_integrator_menu_points_to_the_api(client: Client, world: World) -> None:
    nav = build_navigation(world.integrator)
    assert set(nav.urls) == {"password_change"}
    client.force_login(world.integrator)
    html = _nav_html(client, reverse("home"))
    assert 'href="/api/docs/"' in html and "Refill board" not in html


def test_staff_flag_adds_admin(world: World) -> None:
    world.clinician.is_staff = True
    world.clinician.save()
    nav = build_navigation(world.clinician)
    assert nav.urls["admin:index"] == "/admin/"
    assert build_navigation(world.admin).role_labels == ["Administrator"]


def test_anonymous_gets_no_menu(db: None) -> None:
    from django.contrib.auth.models import AnonymousUser

    nav = build_navigation(AnonymousUser())
    assert nav.items == [] and nav.account_items == []


def test_entries_whose_page_does_not_exist_are_left_out(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        navigation,
        "STAFF_ENTRIES",
        (("Refill board", "home"), ("Nowhere", "nowhere:missing"), ("Alerts", "alerts:list")),
    )
    nav = build_navigation(world.clinician)
    labels = [item.label for item in nav.items]
    assert "Nowhere" not in labels and labels[0] == "Refill board"


def test_header_shows_name_roles_and_a_post_sign_out(client: Client, world: World) -> None:
    world.clinician.first_name, world.clinician.last_name = "Claire", "Okafor"
    world.clinician.save()
    client.force_login(world.clinician)
    html = client.get(reverse("home")).content.decode()
    assert "ITB pump clinic" in html
    assert '<span class="account__name">Claire Okafor</span>' in html
    assert '<span class="account__roles">Clinician</span>' in html
    form = html.split('class="account__signout"', 1)[1].split("</form>", 1)[0]
    assert 'method="post"' in form and f'action="{reverse("logout")}"' in form
    assert "csrfmiddlewaretoken" in form and "Sign out" in form
    # Landmarks and the skip link.
    assert 'href="#main"' in html and '<main id="main"' in html
    assert "<header" in html and "<footer" in html


def test_messages_are_shown_with_their_level(client: Client, world: World) -> None:
    client.force_login(world.clinician)
    client.post(reverse("logout"))
    html = client.get(reverse("login")).content.decode()
    assert 'class="message message--success"' in html and "Done:" in html


def test_no_inline_script_or_style(client: Client, world: World) -> None:
    pages = [reverse("login"), reverse("password_reset")]
    for page in pages:
        html = client.get(page).content.decode()
        assert "<script" not in html and "style=" not in html and "<style" not in html
    client.force_login(world.caregiver_a)
    for page in [reverse("web:caregiver"), reverse("password_change")]:
        html = client.get(page).content.decode()
        assert "<script" not in html and "style=" not in html and "<style" not in html
