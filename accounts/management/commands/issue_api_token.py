"""Issue an API token from the command line and print it once."""

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import ApiTokenScope, User
from accounts.services import DEFAULT_EXPIRES_IN_DAYS, api_token_issue


class Command(BaseCommand):
    help = (
        "Issue an API token acting as USERNAME and print it once. The token cannot be shown "
        "again: store it in the integration's secret store now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The user the token acts as.")
        parser.add_argument(
            "--scope",
            required=True,
            choices=ApiTokenScope.values,
            help="read: GET only; write: may also change records.",
        )
        parser.add_argument("--name", default="", help='What the integration is ("Epic").')
        lifetime = parser.add_mutually_exclusive_group()
        lifetime.add_argument(
            "--expires-in",
            type=int,
            default=DEFAULT_EXPIRES_IN_DAYS,
            metavar="DAYS",
            help=f"Days until the token expires (default {DEFAULT_EXPIRES_IN_DAYS}).",
        )
        lifetime.add_argument(
            "--no-expiry", action="store_true", help="Issue a token that never expires."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f'No user named "{username}".')
        if not user.is_active:
            raise CommandError(
                f'User "{username}" is inactive; API tokens can only be issued to active users.'
            )
        expires_in = None if options["no_expiry"] else options["expires_in"]
        try:
            token, clear = api_token_issue(
                actor=None,
                user=user,
                scope=options["scope"],
                name=options["name"],
                expires_in_days=expires_in,
            )
        except ValidationError as exc:
            messages = [
                f"{'--expires-in' if field == 'expires_in_days' else field}: {message}"
                for field, field_messages in exc.message_dict.items()
                for message in field_messages
            ]
            raise CommandError(" ".join(messages)) from None
        expires = token.expires_at.isoformat() if token.expires_at else "never"
        self.stdout.write(clear)
        self.stdout.write(f"prefix: {token.prefix}")
        self.stdout.write(f"user: {user.username}")
        self.stdout.write(f"scope: {token.scope}")
        self.stdout.write(f"expires: {expires}")
        self.stderr.write("This token is shown once. Store it now; it cannot be shown again.")
