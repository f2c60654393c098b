from django.core.management.base import BaseCommand

from cache_layer import reference, registry, store


class Command(BaseCommand):
    help = "Load every registered reference table into the cache and print what was loaded."

    def handle(self, *args, **options):
        try:
            loaded = reference.prewarm()
        except store.CacheUnavailable as error:
            self.stderr.write(f"The cache is unavailable ({error}); nothing prewarmed.")
            return
        total = 0.0
        for name in registry.names():
            rows, seconds = loaded[name]
            total += seconds
            self.stdout.write(f"  {name:<20} {rows:>6} rows  {seconds * 1000:8.1f} ms")
        self.stdout.write(self.style.SUCCESS(f"Prewarmed {len(loaded)} tables in {total * 1000:.1f} ms."))
