"""Strategies over HTTP: create, get, list with pagination, ownership, validation."""

from __future__ import annotations

import re
import threading
from datetime import datetime

from tektii_testkit import assert_error

ID = re.compile(r"^strat_[a-z2-7]{16,}$")
USER_ID = re.compile(r"^user_[a-z2-7]{16,}$")


def test_create_then_get(api):
    key = api.new_user()
    me = api.call("GET", "/v1/me", key).json()["data"]
    response = api.call("POST", "/v1/strategies", key, json={"name": "my-strategy"})
    assert response.status_code == 201
    created = response.json()["data"]
    assert set(created) == {"id", "name", "ownerId", "createdBy", "createdAt", "updatedAt"}
    assert ID.match(created["id"])
    assert created["name"] == "my-strategy"
    assert created["ownerId"] == created["createdBy"] == me["id"]
    assert USER_ID.match(me["id"])
    for field in ("createdAt", "updatedAt"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", created[field])
        datetime.fromisoformat(created[field])
    assert response.headers["Location"] == f"/v1/strategies/{created['id']}"

    fetched = api.call("GET", f"/v1/strategies/{created['id']}", key)
    assert fetched.status_code == 200
    assert fetched.json() == {"data": created}


def test_bearer_and_header_keys_are_equivalent(api):
    key = api.new_user()
    created = api.create(key, "alpha")
    by_bearer = api.call("GET", f"/v1/strategies/{created['id']}", headers={"Authorization": f"Bearer {key}"})
    assert by_bearer.status_code == 200
    assert by_bearer.json()["data"] == created


def test_list_is_newest_first_and_paginates_without_gaps_or_duplicates(api):
    key = api.new_user()
    made = [api.create(key, f"s{i:02d}")["id"] for i in range(45)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        body = api.call("GET", "/v1/strategies", key, params=params).json()["data"]
        assert set(body) == {"strategies", "nextCursor"}
        pages += 1
        assert len(body["strategies"]) == (10 if pages < 5 else 5)
        seen += [s["id"] for s in body["strategies"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert pages < 10, "pagination does not terminate"
    assert pages == 5
    assert seen == list(reversed(made))  # every item once, newest first


def test_items_created_while_paging_do_not_disturb_later_pages(api):
    key = api.new_user()
    made = [api.create(key, f"s{i}")["id"] for i in range(6)]
    first = api.call("GET", "/v1/strategies", key, params={"limit": 3}).json()["data"]
    api.create(key, "late")
    second = api.call("GET", "/v1/strategies", key, params={"limit": 3, "cursor": first["nextCursor"]}).json()["data"]
    ids = [s["id"] for s in first["strategies"] + second["strategies"]]
    assert ids == list(reversed(made))
    assert second["nextCursor"] is None


def test_default_limit_is_20_and_exact_page_has_no_next_cursor(api):
    key = api.new_user()
    for i in range(21):
        api.create(key, f"n{i}")
    body = api.call("GET", "/v1/strategies", key).json()["data"]
    assert len(body["strategies"]) == 20
    rest = api.call("GET", "/v1/strategies", key, params={"cursor": body["nextCursor"]}).json()["data"]
    assert len(rest["strategies"]) == 1 and rest["nextCursor"] is None
    exact = api.call("GET", "/v1/strategies", key, params={"limit": 21}).json()["data"]
    assert len(exact["strategies"]) == 21 and exact["nextCursor"] is None


def test_empty_list(api):
    key = api.new_user()
    assert api.call("GET", "/v1/strategies", key).json() == {"data": {"strategies": [], "nextCursor": None}}


def test_bad_limit_and_cursor_are_reported_together(api):
    key = api.new_user()
    for bad in ("0", "101", "-1", "abc", "", "1.5"):
        error = assert_error(api.call("GET", "/v1/strategies", key, params={"limit": bad}), 422, "validation_failed")
        assert [d["field"] for d in error["details"]] == ["limit"], bad
    for bad_cursor in ("not-a-cursor", "e30", "WzEsMl0"):  # garbage, {}, [1,2]
        error = assert_error(api.call("GET", "/v1/strategies", key, params={"cursor": bad_cursor}), 422, "validation_failed")
        assert [d["field"] for d in error["details"]] == ["cursor"], bad_cursor
    error = assert_error(
        api.call("GET", "/v1/strategies", key, params={"limit": "1000", "cursor": "%%%"}), 422, "validation_failed"
    )
    assert [d["field"] for d in error["details"]] == ["limit", "cursor"]
    assert all(d["message"] for d in error["details"])


def test_limit_bounds_are_accepted(api):
    key = api.new_user()
    api.create(key, "x")
    for good in ("1", "100"):
        assert api.call("GET", "/v1/strategies", key, params={"limit": good}).status_code == 200


def test_name_validation_reports_every_bad_field(api):
    key = api.new_user()
    error = assert_error(
        api.call("POST", "/v1/strategies", key, json={"name": "", "colour": "red", "owner": 1}),
        422,
        "validation_failed",
    )
    assert {d["field"] for d in error["details"]} == {"name", "colour", "owner"}
    error = assert_error(api.call("POST", "/v1/strategies", key, json={}), 422, "validation_failed")
    assert error["details"] == [{"field": "name", "message": "is required"}]
    for bad in ("x" * 101, " padded", "padded ", "semi;colon", "tab\there", "ünïcode", 42, None, ["a"]):
        error = assert_error(api.call("POST", "/v1/strategies", key, json={"name": bad}), 422, "validation_failed")
        assert [d["field"] for d in error["details"]] == ["name"], bad
    for good in ("x" * 100, "a", "My Strategy 2.0_beta-1"):
        assert api.call("POST", "/v1/strategies", key, json={"name": good}).status_code == 201, good


def test_body_must_be_a_json_object(api):
    key = api.new_user()
    for body in ("[]", '"name"', "3"):
        error = assert_error(api.call("POST", "/v1/strategies", key, data=body), 422, "validation_failed")
        assert error["details"] == [{"field": None, "message": "must be an object"}]


def test_invalid_and_empty_json_are_400(api):
    key = api.new_user()
    assert_error(api.call("POST", "/v1/strategies", key, data="{name: x"), 400, "invalid_json")
    assert_error(api.call("POST", "/v1/strategies", key, data=""), 400, "invalid_json")
    assert_error(api.call("POST", "/v1/strategies", key, data=b"\xff\xfe"), 400, "invalid_json")


def test_name_conflict_is_409_ignoring_case_per_owner(api):
    alice, bob = api.new_user("alice"), api.new_user("bob")
    first = api.create(alice, "momentum")
    error = assert_error(api.call("POST", "/v1/strategies", alice, json={"name": "Momentum"}), 409, "strategy_name_taken")
    assert first["id"] in error["message"]
    assert [d["field"] for d in error["details"]] == ["name"]
    # Another owner may use the same name.
    assert api.call("POST", "/v1/strategies", bob, json={"name": "momentum"}).status_code == 201


def test_unknown_and_other_users_strategy_are_both_404(api):
    alice, bob = api.new_user("alice"), api.new_user("bob")
    strategy = api.create(alice, "private")
    unknown = assert_error(api.call("GET", "/v1/strategies/strat_doesnotexist", alice), 404, "not_found")
    foreign = assert_error(api.call("GET", f"/v1/strategies/{strategy['id']}", bob), 404, "not_found")
    # Same shape either way: the answer does not reveal that the id exists.
    assert foreign["message"] == unknown["message"].replace("strat_doesnotexist", strategy["id"])


def test_two_users_see_only_their_own_strategies(api):
    alice, bob = api.new_user("alice"), api.new_user("bob")
    alice_ids = {api.create(alice, f"a{i}")["id"] for i in range(3)}
    bob_ids = {api.create(bob, f"b{i}")["id"] for i in range(2)}
    listed = lambda key: {s["id"] for s in api.call("GET", "/v1/strategies", key).json()["data"]["strategies"]}  # noqa: E731
    assert listed(alice) == alice_ids
    assert listed(bob) == bob_ids
    # A cursor made from another user's listing does not leak their items either.
    cursor = api.call("GET", "/v1/strategies", alice, params={"limit": 1}).json()["data"]["nextCursor"]
    assert {
        s["id"] for s in api.call("GET", "/v1/strategies", bob, params={"cursor": cursor}).json()["data"]["strategies"]
    } <= bob_ids


def test_concurrent_creates_lose_nothing(api):
    keys = [api.new_user(f"user{i}") for i in range(4)]
    per_thread, threads_per_key = 15, 4
    failures: list[str] = []

    def work(key: str, worker: int) -> None:
        import requests

        with requests.Session() as session:
            for i in range(per_thread):
                response = session.post(
                    f"{api.url}/v1/strategies", json={"name": f"w{worker}-{i}"}, headers={"X-API-Key": key}, timeout=30
                )
                if response.status_code != 201:
                    failures.append(f"{response.status_code} {response.text}")

    threads = [threading.Thread(target=work, args=(key, n)) for key in keys for n in range(threads_per_key)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert failures == []
    for key in keys:
        listed = api.call("GET", "/v1/strategies", key, params={"limit": 100}).json()["data"]
        names = sorted(s["name"] for s in listed["strategies"])
        assert names == sorted(f"w{n}-{i}" for n in range(threads_per_key) for i in range(per_thread))
        assert listed["nextCursor"] is None


def test_concurrent_duplicate_names_give_one_success(api):
    key = api.new_user()
    results: list[int] = []

    def work() -> None:
        import requests

        results.append(
            requests.post(f"{api.url}/v1/strategies", json={"name": "race"}, headers={"X-API-Key": key}, timeout=30).status_code
        )

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(results) == [201] + [409] * 11
