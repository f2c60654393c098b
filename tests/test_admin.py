import pytest
from django.urls import reverse
from django.utils import timezone
from model_bakery import baker

from dashboard.models import LocationHistory, Tracker

MODELS = [
    "client",
    "image",
    "brand",
    "productionrun",
    "storagelocation",
    "deliverylocation",
    "tracker",
    "locationhistory",
]


@pytest.fixture
def fleet(db):
    run = baker.make("dashboard.ProductionRun", name="Run 7", brand__name="Nova", brand__client__name="Acme")
    tracker = baker.make(Tracker, serial="SER-0042", name="Pallet", production_run=run)
    baker.make(
        LocationHistory,
        tracker=tracker,
        timestamp=timezone.now(),
        latitude=48.85,
        longitude=2.35,
        nearest_city="Paris",
        confidence=0.9,
    )
    return tracker


@pytest.fixture
def admin_client_logged_in(client, superuser):
    client.force_login(superuser)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelist_change_and_add_pages_render_for_staff(admin_client_logged_in, fleet, model):
    objects = {
        "client": fleet.production_run.brand.client,
        "brand": fleet.production_run.brand,
        "productionrun": fleet.production_run,
        "tracker": fleet,
        "locationhistory": fleet.locations.first(),
        "image": baker.make("dashboard.Image"),
        "storagelocation": baker.make("dashboard.StorageLocation", latitude=1, longitude=1),
        "deliverylocation": baker.make("dashboard.DeliveryLocation", latitude=1, longitude=1),
    }
    assert admin_client_logged_in.get(reverse(f"admin:dashboard_{model}_changelist")).status_code == 200
    assert admin_client_logged_in.get(reverse(f"admin:dashboard_{model}_add")).status_code == 200
    change = admin_client_logged_in.get(reverse(f"admin:dashboard_{model}_change", args=[objects[model].pk]))
    assert change.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_admin_is_refused_to_a_non_staff_user(client, owner, model):
    client.force_login(owner)
    response = client.get(reverse(f"admin:dashboard_{model}_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_tracker_page_shows_its_latest_location_read_only(admin_client_logged_in, fleet):
    page = admin_client_logged_in.get(reverse("admin:dashboard_tracker_change", args=[fleet.pk])).content.decode()
    assert "48.85000, 2.35000 near Paris" in page


def test_admin_search_finds_a_tracker_by_serial(admin_client_logged_in, fleet):
    baker.make(Tracker, serial="SER-9999", name="Other")
    page = admin_client_logged_in.get(reverse("admin:dashboard_tracker_changelist"), {"q": "0042"}).content.decode()
    assert "SER-0042" in page
    assert "SER-9999" not in page


def test_location_history_uses_a_raw_id_field_not_a_dropdown(admin_client_logged_in, fleet):
    page = admin_client_logged_in.get(reverse("admin:dashboard_locationhistory_add")).content.decode()
    assert 'class="vForeignKeyRawIdAdminField"' in page
    assert '<select name="tracker"' not in page


def test_staff_can_add_a_user_and_then_set_its_client(admin_client_logged_in, client_a):
    response = admin_client_logged_in.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newop",
            "password1": "a-Long-pass-1234",
            "password2": "a-Long-pass-1234",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="newop")
    assert user.profile.client is None
    page = admin_client_logged_in.get(reverse("admin:auth_user_change", args=[user.pk])).content.decode()
    assert "prefers_full_load" in page
