"""factory_boy factories for the clinical models. Clinical rows that must go through a service
(programs, fills) are made with the services in tests, not here."""

from datetime import date
from decimal import Decimal

import factory

from accounts.models import User
from pumps.models import Clinic, Patient, PumpModel


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.invalid")
    password = factory.django.Password("correct horse battery staple")


class ClinicFactory(factory.django.DjangoModelFactory[Clinic]):
    class Meta:
        model = Clinic

    name = factory.Sequence(lambda n: f"Clinic {n}")
    time_zone = "America/New_York"
    # New clinics require two-factor authentication by default (the safe setting); the tests'
    # users have no authenticator, so tests that need it set it.
    require_two_factor = False


class PatientFactory(factory.django.DjangoModelFactory[Patient]):
    class Meta:
        model = Patient

    clinic = factory.SubFactory(ClinicFactory)
    mrn = factory.Sequence(lambda n: f"MRN{n:05d}")
    given_name = factory.Faker("first_name")
    family_name = factory.Faker("last_name")
    date_of_birth = date(1980, 5, 17)
    spasticity_origin = "spinal"


def pump_model(number: str = "8637-20") -> PumpModel:
    """A catalog pump model seeded by the data migration."""
    return PumpModel.objects.get(model_number=number)


D = Decimal
