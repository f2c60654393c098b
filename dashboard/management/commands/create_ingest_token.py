from django.core.management.base import BaseCommand, CommandError

from dashboard.models import Client
from dashboard.services import IngestTokenRefused, ingest_token_create


class Command(BaseCommand):
    help = (
        "Print an API token that ingests location reports for one client's trackers only "
        "(makes the user if needed; an existing user keeps its token)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--client", required=True, help="the client's name or id")
        parser.add_argument("--username", required=True, help="the token's user, e.g. acme-ingest")

    def handle(self, *args, client, username, **options):
        lookup = {"pk": int(client)} if client.isdigit() else {"name": client}
        try:
            owner = Client.objects.get(**lookup)
        except Client.DoesNotExist:
            raise CommandError(f"No client {client!r}.") from None
        except Client.MultipleObjectsReturned:
            raise CommandError(f"Several clients are named {client!r}: give its id.") from None
        try:
            token = ingest_token_create(client=owner, username=username)
        except IngestTokenRefused as refused:
            raise CommandError(str(refused)) from None
        self.stdout.write(token.key)
