"""Idempotency-Key over real HTTP (contract.md §2, rules.md LOP-12): a repeat gets the first status, headers and
body and appends nothing; the same key with another body, or on another path, is 422 IDEMPOTENCY_KEY_REUSED."""

from __future__ import annotations

import asyncio
import json
from uuid import uuid4

import httpx

from tests.e2e.conftest import API, arbeidstrening, count_events, garanti, ny_ident


def same_answer(first: httpx.Response, repeat: httpx.Response) -> None:
    assert repeat.status_code == first.status_code
    assert repeat.headers["Location"] == first.headers["Location"]
    assert repeat.headers["ETag"] == first.headers["ETag"]
    assert repeat.json() == first.json()


async def test_a_repeated_grant_with_the_same_key_answers_201_again_with_the_same_lop_and_stores_nothing(
    client, sb_0315, server
):
    key = {"Idempotency-Key": str(uuid4())}
    body = arbeidstrening(ny_ident())
    first = await client.post(f"{API}/tiltakslop", json=body, headers={**sb_0315, **key})
    assert first.status_code == 201, first.text
    stored = await count_events(server.database_url)

    repeat = await client.post(f"{API}/tiltakslop", json=body, headers={**sb_0315, **key})
    reordered = await client.post(
        f"{API}/tiltakslop",
        content=json.dumps(dict(reversed(list(body.items()))), indent=2).encode(),
        headers={**sb_0315, **key, "Content-Type": "application/json"},
    )

    same_answer(first, repeat)
    same_answer(first, reordered)  # bodies are compared as parsed JSON
    assert await count_events(server.database_url) == stored


async def test_a_repeated_guarantee_with_the_same_key_answers_201_again(client, sb_0315, server):
    key = {"Idempotency-Key": str(uuid4())}
    body = garanti(ny_ident())
    first = await client.post(f"{API}/ungdomsgarantier", json=body, headers={**sb_0315, **key})
    stored = await count_events(server.database_url)

    repeat = await client.post(f"{API}/ungdomsgarantier", json=body, headers={**sb_0315, **key})

    assert first.status_code == 201, first.text
    same_answer(first, repeat)
    assert await count_events(server.database_url) == stored


async def test_a_repeated_change_answers_with_the_first_state_even_after_later_changes(client, sb_0315, server):
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb_0315)
    lop_url = lop.headers["Location"]
    key = {"Idempotency-Key": str(uuid4())}
    body = {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"}
    first = await client.post(f"{lop_url}/forlengelser", json=body, headers={**sb_0315, **key})
    assert first.status_code == 200, first.text
    later = await client.post(f"{lop_url}/vurderinger", json={}, headers=sb_0315)
    assert later.status_code == 400
    shortened = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2025-08-31"}, headers=sb_0315)
    assert shortened.status_code == 200
    stored = await count_events(server.database_url)

    repeat = await client.post(f"{lop_url}/forlengelser", json=body, headers={**sb_0315, **key})

    same_answer(first, repeat)
    assert repeat.json()["tom"] == "2025-09-30" and repeat.headers["ETag"] == '"2"'
    assert await count_events(server.database_url) == stored
    assert (await client.get(lop_url, headers=sb_0315)).json()["tom"] == "2025-08-31"


async def test_a_repeated_overgang_answers_201_with_the_same_new_lop(client, sb_0315, server):
    source = await client.post(
        f"{API}/tiltakslop", json=arbeidstrening(ny_ident(), tiltakstype="AFT"), headers=sb_0315
    )
    til = {k: v for k, v in arbeidstrening(fom="2025-07-01", tom="2025-12-31").items() if k != "person"}
    key = {"Idempotency-Key": str(uuid4())}
    body = {"sluttdato": "2025-06-30", "til": til}
    first = await client.post(f"{source.headers['Location']}/overgang", json=body, headers={**sb_0315, **key})
    assert first.status_code == 201, first.text
    stored = await count_events(server.database_url)

    repeat = await client.post(f"{source.headers['Location']}/overgang", json=body, headers={**sb_0315, **key})

    same_answer(first, repeat)
    assert await count_events(server.database_url) == stored


async def test_the_same_key_with_another_body_is_422_idempotency_key_reused(client, sb_0315, server):
    key = {"Idempotency-Key": str(uuid4())}
    ident = ny_ident()
    first = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ident), headers={**sb_0315, **key})
    assert first.status_code == 201
    stored = await count_events(server.database_url)

    other = await client.post(
        f"{API}/tiltakslop", json=arbeidstrening(ident, tom="2025-05-31"), headers={**sb_0315, **key}
    )

    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count_events(server.database_url) == stored


async def test_the_same_key_on_another_path_is_422_idempotency_key_reused(client, sb_0315, server):
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb_0315)
    key = {"Idempotency-Key": str(uuid4())}
    first = await client.post(
        f"{lop.headers['Location']}/avkorting", json={"ny_tom": "2025-05-31"}, headers={**sb_0315, **key}
    )
    assert first.status_code == 200
    stored = await count_events(server.database_url)

    elsewhere = await client.post(
        f"{lop.headers['Location']}/avslutning",
        json={"sluttdato": "2025-05-31", "aarsak": "FULLFORT"},
        headers={**sb_0315, **key},
    )
    same_body_other_path = await client.post(
        f"{API}/tiltakslop/{uuid4()}/avkorting", json={"ny_tom": "2025-05-31"}, headers={**sb_0315, **key}
    )

    assert elsewhere.status_code == 422 and elsewhere.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert same_body_other_path.status_code == 422
    assert same_body_other_path.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert await count_events(server.database_url) == stored


async def test_the_same_request_sent_twice_at_once_is_stored_once_and_both_get_the_first_answer(
    client, sb_0315, server
):
    key = {"Idempotency-Key": str(uuid4())}
    body = arbeidstrening(ny_ident())
    grants = await count_events(server.database_url, topic="TiltakslopInnvilget")

    answers = await asyncio.gather(
        *(client.post(f"{API}/tiltakslop", json=body, headers={**sb_0315, **key}) for _ in range(8))
    )

    assert all(a.status_code == 201 for a in answers), [a.text for a in answers]
    for a in answers[1:]:
        same_answer(answers[0], a)
    assert await count_events(server.database_url, topic="TiltakslopInnvilget") == grants + 1
    assert await count_events(server.database_url, answers[0].json()["id"]) == 1


async def test_the_same_change_sent_many_times_at_once_is_stored_once_and_all_get_the_first_answer(
    client, sb_0315, server
):
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(ny_ident()), headers=sb_0315)
    lop_id = lop.json()["id"]
    key = {"Idempotency-Key": str(uuid4())}
    body = {"ny_tom": "2025-09-30", "aarsak": "BEHOV_VIDERE"}

    answers = await asyncio.gather(
        *(client.post(f"{lop.headers['Location']}/forlengelser", json=body, headers={**sb_0315, **key})
          for _ in range(8))
    )

    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    for a in answers[1:]:
        same_answer(answers[0], a)
    assert await count_events(server.database_url, lop_id) == 2
