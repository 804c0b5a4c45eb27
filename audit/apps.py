from django.apps import AppConfig
from django.core.signals import request_finished, request_started


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit.request_id import forget_sending_request_id

        # The id of a response being sent names the server's request line, and nothing after.
        request_started.connect(forget_sending_request_id, dispatch_uid="audit.sending_request_id")
        request_finished.connect(
            forget_sending_request_id, dispatch_uid="audit.sending_request_id_done"
        )
