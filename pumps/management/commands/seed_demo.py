from typing import Any

from django.core.management.base import BaseCommand

from pumps.demo import DEMO_PASSWORD, USERS, seed_demo


class Command(BaseCommand):
    help = "Create the demo clinics, users and patients (safe to run again: changes nothing)."

    def handle(self, *args: Any, **options: Any) -> None:
        created = seed_demo()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo data ready ({created['clinics']} clinics and {created['patients']} "
                "patients created this run)."
            )
        )
        self.stdout.write(
            "Logins: " + ", ".join(u.username for u in USERS) + f" — password: {DEMO_PASSWORD}"
        )
