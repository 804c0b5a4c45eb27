from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from pumps.models import Pump, PumpStatus
from pumps.services import pump_projection_refresh


class Command(BaseCommand):
    help = (
        "Recompute the stored projection of every active pump (after changing the dosing "
        "rules or a clinic's buffers, or after a restore)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        done = failed = 0
        pumps = Pump.objects.filter(status=PumpStatus.ACTIVE).select_related(
            "patient__clinic", "pump_model"
        )
        for pump in pumps.iterator(chunk_size=200):
            with transaction.atomic():
                pump_projection_refresh(pump=pump)
            if pump.projection_error:
                failed += 1
                self.stderr.write(f"pump {pump.pk}: {pump.projection_error}")
            else:
                done += 1
        self.stdout.write(f"Refreshed {done} pumps; {failed} could not be projected.")
