from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse


@login_required
def index(request: HttpRequest) -> HttpResponse:
    # Placeholder until the dashboard page lands.
    return HttpResponse("trackerdash: the dashboard page is coming; the admin is at /admin/.")
