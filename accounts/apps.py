from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Registers the API token scheme with the OpenAPI generator.
        from accounts import schema  # noqa: F401
