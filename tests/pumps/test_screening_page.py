"""The screening-trial calculator: bolus volumes, the starting dose rules, refusals, bad input,
staff only, and no database writes."""

import re

import pytest
from django.urls import reverse

from audit.models import AuditEntry

URL = "/screening/"


def text_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def field_errors(response, name: str) -> list[str]:
    html = response.content.decode()
    match = re.search(rf'<ul class="field__errors" id="id_{name}_errors">(.*?)</ul>', html, re.S)
    if match is None:
        return []
    items = re.findall(r"<li>(.*?)</li>", match.group(1), re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()) for item in items]


@pytest.fixture
def staff(client, world):
    client.force_login(world.nurse)
    return client


def post(client, **data):
    payload = {
        "screening_dose_mcg": "",
        "effect_duration_hours": "",
        "previous_bolus_at": "",
        "bolus_at": "",
    }
    payload.update(data)
    return client.post(URL, payload)


def test_url_name():
    assert reverse("pumps:screening") == URL


def test_standard_doses_and_their_volumes(staff):
    response = staff.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    rows = re.findall(r"<tr><th scope=\"row\">(.*?)</th><td class=\"num\">(.*?)</td></tr>", html)
    assert rows == [
        ("25 mcg", "0.5 mL"),
        ("50 mcg", "1 mL"),
        ("75 mcg", "1.5 mL"),
        ("100 mcg", "2 mL"),
    ]
    text = text_of(response)
    assert "Screening product at 50 mcg/mL" in text
    assert "at least 24 h apart" in text
    assert "4 to 8 hours" in text
    assert "above 100 mcg" in text
    assert "no response to 100 mcg is not a candidate" in text


def test_short_effect_doubles_the_dose(staff):
    response = post(staff, screening_dose_mcg="75", effect_duration_hours="6")
    text = text_of(response)
    assert "Within the screening rules" in text
    assert "Syringe volume: 1.5 mL" in text
    assert "Starting daily dose after implant 150 mcg/day" in text
    assert "effect lasted 8 h or less: starting daily dose = 2 × screening dose" in text


def test_exactly_eight_hours_still_doubles(staff):
    text = text_of(post(staff, screening_dose_mcg="50", effect_duration_hours="8"))
    assert "Starting daily dose after implant 100 mcg/day" in text


def test_long_effect_keeps_the_dose(staff):
    text = text_of(post(staff, screening_dose_mcg="50", effect_duration_hours="9"))
    assert "Starting daily dose after implant 50 mcg/day" in text
    assert "effect lasted more than 8 h: starting daily dose = 1 × screening dose" in text


def test_above_the_maximum_is_refused(staff):
    response = post(staff, screening_dose_mcg="150", effect_duration_hours="6")
    text = text_of(response)
    assert "Refused: do not give this bolus" in text
    assert "150 mcg is above the 100 mcg maximum screening bolus" in text
    assert "not a candidate" in text
    assert 'class="panel starting-dose"' not in response.content.decode()
    assert "300 mcg/day" not in text


def test_boluses_less_than_24_hours_apart_need_a_reason(staff):
    text = text_of(
        post(
            staff,
            screening_dose_mcg="75",
            effect_duration_hours="6",
            previous_bolus_at="2025-03-03T09:00",
            bolus_at="2025-03-04T07:00",
        )
    )
    assert "Check first: needs a documented reason" in text
    assert "at least 24 h apart (22 h since the previous one)" in text


def test_boluses_24_hours_apart_pass(staff):
    text = text_of(
        post(
            staff,
            screening_dose_mcg="75",
            effect_duration_hours="6",
            previous_bolus_at="2025-03-03T09:00",
            bolus_at="2025-03-04T09:00",
        )
    )
    assert "Within the screening rules" in text


def test_previous_bolus_must_come_first(staff):
    response = post(
        staff,
        screening_dose_mcg="75",
        effect_duration_hours="6",
        previous_bolus_at="2025-03-05T09:00",
        bolus_at="2025-03-04T09:00",
    )
    assert field_errors(response, "previous_bolus_at") == [
        "The previous bolus must be before this bolus."
    ]
    assert 'class="panel starting-dose"' not in response.content.decode()


@pytest.mark.parametrize("bad", ["fifty", "-50", "0", "nan", "NaN", "inf", "1e400", "50 mcg", " "])
def test_bad_dose_is_a_field_error_naming_the_unit(staff, bad):
    response = post(staff, screening_dose_mcg=bad, effect_duration_hours="6")
    assert response.status_code == 200
    errors = field_errors(response, "screening_dose_mcg")
    assert len(errors) == 1
    assert "mcg" in errors[0]
    assert 'class="field field--error"' in response.content.decode()
    assert 'class="panel starting-dose"' not in response.content.decode()


@pytest.mark.parametrize("bad", ["six", "-6", "0", "nan", "Infinity"])
def test_bad_duration_is_a_field_error_naming_the_unit(staff, bad):
    response = post(staff, screening_dose_mcg="50", effect_duration_hours=bad)
    errors = field_errors(response, "effect_duration_hours")
    assert len(errors) == 1
    assert "hours (h)" in errors[0]
    assert field_errors(response, "screening_dose_mcg") == []


def test_bad_time_is_a_field_error(staff):
    response = post(staff, screening_dose_mcg="50", effect_duration_hours="6", bolus_at="soon")
    assert field_errors(response, "bolus_at") == ["Enter this bolus time as a date and time."]


def test_nothing_is_written(staff):
    before = AuditEntry.objects.count()
    post(staff, screening_dose_mcg="75", effect_duration_hours="6")
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("username", ["clinician", "nurse"])
def test_clinicians_and_nurses_may_use_it(client, world, username):
    client.force_login(getattr(world, username))
    assert client.get(URL).status_code == 200


@pytest.mark.parametrize("username", ["caregiver_a", "integrator", "stranger", "admin"])
def test_others_get_404(client, world, username):
    client.force_login(getattr(world, username))
    assert client.get(URL).status_code == 404
    assert post(client, screening_dose_mcg="50", effect_duration_hours="6").status_code == 404


def test_anonymous_is_sent_to_sign_in(client, world):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
