"""Reference lists, the scope summary and preferences: scoped, with the contract's fields."""

import pytest
from model_bakery import baker
from rest_framework.test import APIClient

from dashboard.queries import REFERENCE_LOADERS
from tests.conftest import make_user
from tests.fleet import make_fleet

REFERENCE_URLS = {
    "clients": "/api/clients/",
    "brands": "/api/brands/",
    "production_runs": "/api/production-runs/",
    "storage_locations": "/api/storage-locations/",
    "delivery_locations": "/api/delivery-locations/",
    "images": "/api/images/",
}


@pytest.fixture
def fleets(client_a, client_b):
    return make_fleet(client_a, prefix="A"), make_fleet(client_b, prefix="B", trackers=2)


@pytest.fixture
def shared_image(db):
    return baker.make("dashboard.Image", client=None, title="Shared", url="https://img.test/shared.png")


def _ids(rows):
    return sorted(row["id"] for row in rows)


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/reference/", *REFERENCE_URLS.values(), "/api/me/scope/"])
def test_anonymous_is_refused(url):
    assert APIClient().get(url).status_code in (401, 403)


@pytest.mark.django_db
def test_reference_bootstrap_holds_only_the_users_client_and_shared_images(owner_api, fleets, shared_image):
    mine, theirs = fleets
    body = owner_api.get("/api/reference/").json()

    assert body["clients"] == [{"id": mine.client.id, "name": "Client A"}]
    assert body["brands"] == [
        {
            "id": mine.brand.id,
            "name": "A brand",
            "client_id": mine.client.id,
            "logo_id": mine.image.id,
            "logo": "https://img.test/A.png",
            "production_run_count": 1,
        }
    ]
    assert body["production_runs"] == [
        {
            "id": mine.run.id,
            "name": "A run",
            "brand_id": mine.brand.id,
            "start_date": "2026-01-01",
            "end_date": None,
            "tracker_count": 3,
            "client_id": mine.client.id,
        }
    ]
    assert _ids(body["storage_locations"]) == [mine.storage.id]
    assert _ids(body["delivery_locations"]) == [mine.delivery.id]
    assert _ids(body["images"]) == sorted([mine.image.id, shared_image.id])
    assert [status["value"] for status in body["statuses"]] == [
        "in_storage",
        "in_transit",
        "delivered",
        "returned",
        "lost",
    ]


@pytest.mark.django_db
@pytest.mark.parametrize("table", REFERENCE_URLS)
def test_each_reference_list_hides_the_other_clients_rows(owner_api, other_api, staff_api, fleets, table):
    mine, theirs = fleets
    own_ids = _ids(owner_api.get(REFERENCE_URLS[table]).json())
    other_ids = _ids(other_api.get(REFERENCE_URLS[table]).json())
    all_ids = _ids(staff_api.get(REFERENCE_URLS[table]).json())

    assert own_ids and other_ids
    assert not set(own_ids) & set(other_ids)
    assert all_ids == sorted(own_ids + other_ids)
    assert own_ids == _ids(owner_api.get("/api/reference/").json()[table])


@pytest.mark.django_db
def test_a_user_without_client_sees_empty_lists(fleets, shared_image):
    api = APIClient()
    api.force_login(make_user("loner"))
    body = api.get("/api/reference/").json()
    assert all(body[table] == [] for table in REFERENCE_URLS)
    assert api.get("/api/me/scope/").json()["tracker_count"] == 0


@pytest.mark.django_db
def test_production_runs_narrow_to_one_brand(staff_api, fleets, client_a):
    mine, _ = fleets
    second = baker.make("dashboard.Brand", client=client_a, name="Second")
    baker.make("dashboard.ProductionRun", brand=second, name="Second run", start_date="2026-02-01")

    rows = staff_api.get(f"/api/production-runs/?brand_id={mine.brand.id}").json()
    assert _ids(rows) == [mine.run.id]


@pytest.mark.django_db
def test_production_runs_of_another_clients_brand_are_empty(owner_api, fleets):
    _, theirs = fleets
    assert owner_api.get(f"/api/production-runs/?brand_id={theirs.brand.id}").json() == []


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["abc", "0", "-3", "1" * 30])
def test_a_bad_brand_id_is_a_400_naming_it(owner_api, value):
    response = owner_api.get(f"/api/production-runs/?brand_id={value}")
    assert response.status_code == 400
    assert "brand_id" in response.json()


@pytest.mark.django_db
def test_reference_bootstrap_runs_one_query_per_table_whatever_the_data_size(
    owner_api, fleets, client_a, django_assert_num_queries
):
    for index in range(20):
        make_fleet(client_a, prefix=f"X{index}", trackers=5)
    # the user with their profile (one join; the session comes from the cache); then one query per
    # reference table (six).
    with django_assert_num_queries(1 + len(REFERENCE_LOADERS)):
        assert owner_api.get("/api/reference/").status_code == 200


@pytest.mark.django_db
def test_scope_summary_counts_the_users_fleet(owner_api, fleets, client_a):
    mine, _ = fleets
    assert owner_api.get("/api/me/scope/").json() == {
        "client_ids": [client_a.id],
        "brand_count": 1,
        "production_run_count": 1,
        "tracker_count": 3,
        "lazy_mode": False,
        "lazy_mode_threshold": 500,
        "prefers_full_load": False,
    }


@pytest.mark.django_db
def test_staff_scope_covers_every_client(staff_api, fleets, client_a, client_b):
    body = staff_api.get("/api/me/scope/").json()
    assert body["client_ids"] == sorted([client_a.id, client_b.id])
    assert body["tracker_count"] == 5


@pytest.mark.django_db
def test_lazy_mode_turns_on_above_the_threshold_unless_the_user_prefers_full_load(owner_api, fleets, settings):
    settings.LAZY_MODE_THRESHOLD = 2
    assert owner_api.get("/api/me/scope/").json()["lazy_mode"] is True

    response = owner_api.patch("/api/me/preferences/", {"prefers_full_load": True}, format="json")
    assert response.status_code == 200
    assert response.json()["lazy_mode"] is False
    assert response.json()["prefers_full_load"] is True
    assert owner_api.get("/api/me/scope/").json()["lazy_mode"] is False

    settings.LAZY_MODE_THRESHOLD = 3  # "above": exactly the threshold is not lazy
    owner_api.patch("/api/me/preferences/", {"prefers_full_load": False}, format="json")
    assert owner_api.get("/api/me/scope/").json()["lazy_mode"] is False


@pytest.mark.django_db
def test_lazy_mode_stays_off_when_the_feature_flag_is_off(owner_api, fleets, settings):
    settings.LAZY_MODE_THRESHOLD = 0
    settings.LAZY_MODE_ENABLED = False
    assert owner_api.get("/api/me/scope/").json()["lazy_mode"] is False


@pytest.mark.django_db
def test_preferences_are_stored_on_the_profile(owner_api, owner):
    owner_api.patch("/api/me/preferences/", {"prefers_full_load": True}, format="json")
    owner.profile.refresh_from_db()
    assert owner.profile.prefers_full_load is True


@pytest.mark.django_db
@pytest.mark.parametrize("body", [{"prefers_full_load": "sometimes"}, {"prefers_full_load": None}])
def test_bad_preferences_are_a_400_naming_the_field(owner_api, body):
    response = owner_api.patch("/api/me/preferences/", body, format="json")
    assert response.status_code == 400
    assert "prefers_full_load" in response.json()


@pytest.mark.django_db
def test_an_empty_patch_changes_nothing_and_answers_the_summary(owner_api, owner):
    owner_api.patch("/api/me/preferences/", {"prefers_full_load": True}, format="json")

    response = owner_api.patch("/api/me/preferences/", {}, format="json")  # PATCH: only what is given changes

    assert response.status_code == 200
    assert response.json()["prefers_full_load"] is True
    owner.profile.refresh_from_db()
    assert owner.profile.prefers_full_load is True
