"""Lifecycles over real HTTP: a løp from grant to end, an overgang, a guarantee, the person overview and an
annulment — with the reads (`?per`, `?versjon`, `?kjent_per`, `/historikk`, `/forlengelse`) along the way."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta, timezone
from uuid import UUID, uuid4

from tests.e2e.conftest import (
    API,
    IDENT_A,
    IDENT_B,
    IDENT_C,
    IDENT_D,
    arbeidstrening,
    count_events,
    garanti,
    person,
)

HEX64 = re.compile(r"^[0-9a-f]{64}$")


def aft(ident: str = IDENT_A, **extra):
    body = arbeidstrening(ident, tiltakstype="AFT", fom="2025-01-01", tom="2025-06-30")
    body.update(extra)
    return body


def dag_etter(d: str) -> str:
    return (date.fromisoformat(d) + timedelta(days=1)).isoformat()


async def test_a_lop_goes_from_grant_through_extensions_reviews_shortening_and_correction_to_its_end(
    client, sb_0315, server
):
    cid = str(uuid4())
    created = await client.post(
        f"{API}/tiltakslop", json=aft(), headers={**sb_0315, "X-Correlation-ID": cid}
    )
    assert created.status_code == 201, created.text
    lop = created.json()
    lop_url = f"{API}/tiltakslop/{lop['id']}"
    assert created.headers["Location"] == lop_url
    assert created.headers["ETag"] == '"1"'
    assert created.headers["X-Correlation-ID"] == cid
    assert lop["status"] == "AKTIV" and lop["versjon"] == 1 and lop["posisjon"] >= 1
    assert lop["person"] == person(IDENT_A)
    assert lop["next_review_due"] == "2025-04-01"  # AFT: every 3 months from fom
    after_grant = datetime.now(UTC)
    await asyncio.sleep(0.05)

    extended = await client.post(
        f"{lop_url}/forlengelser", json={"ny_tom": "2025-12-31", "aarsak": "BEHOV_VIDERE"}, headers=sb_0315
    )
    assert extended.status_code == 200, extended.text
    assert extended.json()["tom"] == "2025-12-31" and extended.headers["ETag"] == '"2"'
    assert extended.json()["posisjon"] > lop["posisjon"]

    whatif = await client.get(f"{lop_url}/forlengelse", headers=sb_0315)
    assert whatif.status_code == 200
    grunner = {g["aarsak"]: g["max_tom"] for g in whatif.json()["grunner"]}
    max_tom = grunner["OPPLAERING_FORMELL_KOMPETANSE"]
    assert whatif.json()["mulig"] is True and max_tom == "2026-12-31"
    assert whatif.json() == extended.json()["extension_possible"]

    too_far = await client.post(
        f"{lop_url}/forlengelser",
        json={"ny_tom": dag_etter(max_tom), "aarsak": "OPPLAERING_FORMELL_KOMPETANSE"},
        headers=sb_0315,
    )
    assert too_far.status_code == 422
    assert too_far.json()["code"] == "EXCEEDS_MAX_DURATION" and too_far.json()["max_tom"] == max_tom
    to_max = await client.post(
        f"{lop_url}/forlengelser",
        json={"ny_tom": max_tom, "aarsak": "OPPLAERING_FORMELL_KOMPETANSE", "begrunnelse": "fagbrev"},
        headers=sb_0315,
    )
    assert to_max.status_code == 200, to_max.text
    assert to_max.json()["tom"] == max_tom and to_max.json()["extension_possible"]["mulig"] is False

    review = await client.post(
        f"{lop_url}/vurderinger",
        json={"dato": "2025-03-01", "type": "AFT_STATUS_PROGRESJON", "utfall": "FORTSETTER"},
        headers=sb_0315,
    )
    assert review.status_code == 200, review.text
    assert review.json()["siste_vurdering"] == "2025-03-01" and review.json()["next_review_due"] == "2025-06-01"

    shortened = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2026-06-30"}, headers=sb_0315)
    assert shortened.status_code == 200, shortened.text
    assert shortened.json()["tom"] == "2026-06-30"

    corrected = await client.post(
        f"{lop_url}/korrigeringer",
        json={"vedtak_ref": "VEDTAK-1-RETTET", "begrunnelse": "feil referanse"},
        headers=sb_0315,
    )
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["vedtak_ref"] == "VEDTAK-1-RETTET"

    ended = await client.post(
        f"{lop_url}/avslutning", json={"sluttdato": "2025-09-30", "aarsak": "FULLFORT"}, headers=sb_0315
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["sluttdato"] == "2025-09-30" and ended.json()["avslutningsaarsak"] == "FULLFORT"
    assert ended.headers["ETag"] == '"7"'

    on_end = await client.get(lop_url, params={"per": "2025-09-30"}, headers=sb_0315)
    day_after = await client.get(lop_url, params={"per": "2025-10-01"}, headers=sb_0315)
    assert on_end.json()["status"] == "AKTIV" and day_after.json()["status"] == "AVSLUTTET"
    assert on_end.headers["ETag"] == '"7"' and on_end.json()["per"] == "2025-09-30"

    at_v2 = await client.get(lop_url, params={"versjon": 2}, headers=sb_0315)
    assert at_v2.status_code == 200
    assert at_v2.json()["versjon"] == 2 and at_v2.json()["tom"] == "2025-12-31" and at_v2.headers["ETag"] == '"2"'

    known = await client.get(
        lop_url, params={"kjent_per": after_grant.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}, headers=sb_0315
    )
    assert known.status_code == 200, known.text
    assert known.json()["versjon"] == 1 and known.json()["tom"] == "2025-06-30"
    oslo_time = after_grant.astimezone(timezone(timedelta(hours=1))).isoformat().replace("+", "%2B")
    known_with_offset = await client.get(f"{lop_url}?kjent_per={oslo_time}", headers=sb_0315)
    assert known_with_offset.status_code == 200, known_with_offset.text
    assert known_with_offset.json()["versjon"] == 1
    before_it_existed = await client.get(lop_url, params={"kjent_per": "2020-01-01T00:00:00Z"}, headers=sb_0315)
    assert before_it_existed.status_code == 404 and before_it_existed.json()["code"] == "NOT_FOUND"
    no_such_version = await client.get(lop_url, params={"versjon": 8}, headers=sb_0315)
    assert no_such_version.status_code == 404 and no_such_version.json()["code"] == "NOT_FOUND"

    history = await client.get(f"{lop_url}/historikk", headers=sb_0315)
    assert history.status_code == 200
    events = history.json()["elementer"]
    assert [e["type"] for e in events] == [
        "TiltakslopInnvilget",
        "TiltakslopForlenget",
        "TiltakslopForlenget",
        "OppfolgingsvurderingGjennomfort",
        "TiltakslopAvkortet",
        "TiltakslopKorrigert",
        "TiltakslopAvsluttet",
    ]
    assert [e["versjon"] for e in events] == list(range(1, 8))
    assert all(HEX64.match(e["lenke"]) for e in events)
    assert len({e["lenke"] for e in events}) == 7
    assert all(e["aktor"] == {"nav_ident": "Z990001", "enhet": "0315"} for e in events)
    assert events[0]["correlation_id"] == cid
    assert events[2]["begrunnelse"] == "fagbrev" and events[5]["begrunnelse"] == "feil referanse"
    assert [e["posisjon"] for e in events] == sorted(e["posisjon"] for e in events)
    assert all("person" not in e["data"] for e in events)
    assert events[0]["posisjon"] == lop["posisjon"] and events[1]["posisjon"] == extended.json()["posisjon"]
    assert events[-1]["posisjon"] == ended.json()["posisjon"]


async def test_a_what_if_max_tom_is_accepted_by_a_real_extension_and_the_day_after_is_refused(client, sb_0315):
    lop = (await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)).json()
    lop_url = f"{API}/tiltakslop/{lop['id']}"

    whatif = (await client.get(f"{lop_url}/forlengelse", headers=sb_0315)).json()

    for grunn in whatif["grunner"]:
        refused = await client.post(
            f"{lop_url}/forlengelser", json={"ny_tom": dag_etter(grunn["max_tom"]), "aarsak": grunn["aarsak"]},
            headers=sb_0315,
        )
        assert refused.status_code == 422, grunn
        assert refused.json()["code"] in ("EXCEEDS_MAX_DURATION", "EXTENSION_REASON_NOT_ALLOWED")
    last = whatif["grunner"][-1]
    accepted = await client.post(
        f"{lop_url}/forlengelser", json={"ny_tom": last["max_tom"], "aarsak": last["aarsak"]}, headers=sb_0315
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["tom"] == last["max_tom"]


async def test_a_lonnstilskudd_takes_a_rate_and_a_target_group_change_moves_the_caps(client, sb_0315):
    grant = arbeidstrening(
        tiltakstype="VARIG_LONNSTILSKUDD", fom="2025-01-01", tom=None, tilskuddsprosent=75, stillingstype="FAST"
    )
    created = await client.post(f"{API}/tiltakslop", json=grant, headers=sb_0315)
    assert created.status_code == 201, created.text
    lop_url = created.headers["Location"]

    rate = await client.post(f"{lop_url}/tilskuddssats", json={"prosent": 60, "fom": "2025-03-01"}, headers=sb_0315)
    review = await client.post(
        f"{lop_url}/vurderinger",
        json={"dato": "2025-03-01", "type": "LTS_HALVAARSVURDERING", "utfall": "FORTSETTER"},
        headers=sb_0315,
    )

    assert rate.status_code == 200, rate.text
    assert rate.json()["tilskuddssatser"] == [{"fom": "2025-03-01", "prosent": 60}]
    assert rate.json()["current_rate"] == 60
    assert review.status_code == 200, review.text
    assert review.json()["next_review_due"] == "2025-09-01"

    ips = await client.post(
        f"{API}/tiltakslop",
        json=arbeidstrening(IDENT_C, tiltakstype="IPS", malgruppe="ARBEIDSSOKER", fom="2025-01-01", tom="2025-12-31"),
        headers=sb_0315,
    )
    assert ips.status_code == 201, ips.text
    assert ips.json()["total_cap_tom"] == "2025-12-31"

    changed = await client.post(
        f"{ips.headers['Location']}/malgruppe",
        json={"ny_malgruppe": "NEDSATT_ARBEIDSEVNE", "fom": "2025-03-01", "vedtak_ref": "AEV-2"},
        headers=sb_0315,
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["malgruppe"] == "NEDSATT_ARBEIDSEVNE"
    assert changed.json()["total_cap_tom"] == "2027-12-31"


async def test_a_vta_lop_is_open_ended_and_grants_hospitering_leave(client, sb_0315):
    grant = arbeidstrening(tiltakstype="VTA", fom="2025-01-01", tom=None, mottar_uforetrygd=True)
    created = await client.post(f"{API}/tiltakslop", json=grant, headers=sb_0315)
    assert created.status_code == 201, created.text
    assert created.json()["tom"] is None

    leave = await client.post(
        f"{created.headers['Location']}/permisjoner",
        json={"fom": "2025-04-01", "tom": "2025-09-30", "type": "HOSPITERING", "vertsbedrift": "Bedrift AS"},
        headers=sb_0315,
    )

    assert leave.status_code == 200, leave.text
    assert leave.json()["permisjoner"] == [
        {"fom": "2025-04-01", "tom": "2025-09-30", "type": "HOSPITERING", "vertsbedrift": "Bedrift AS"}
    ]
    assert leave.json()["status"] == "AKTIV"


async def test_an_overgang_answers_with_the_new_lop_and_ends_the_source_with_overgang_tiltak(
    client, sb_0315, server
):
    source = await client.post(f"{API}/tiltakslop", json=aft(), headers=sb_0315)
    source_url = source.headers["Location"]
    til = {k: v for k, v in arbeidstrening(fom="2025-04-01", tom="2025-12-31").items() if k != "person"}
    cid = str(uuid4())

    moved = await client.post(
        f"{source_url}/overgang",
        json={"sluttdato": "2025-03-31", "til": til},
        headers={**sb_0315, "X-Correlation-ID": cid},
    )

    assert moved.status_code == 201, moved.text
    new = moved.json()
    assert new["id"] != source.json()["id"]
    assert moved.headers["Location"] == f"{API}/tiltakslop/{new['id']}"
    assert moved.headers["ETag"] == '"1"'
    assert new["tiltakstype"] == "ARBEIDSTRENING" and new["fom"] == "2025-04-01"
    assert new["forgjenger_lop_id"] == source.json()["id"] and new["overgang_fra_tiltakstype"] == "AFT"
    assert new["person"] == person(IDENT_A)
    old = (await client.get(source_url, params={"per": "2025-04-01"}, headers=sb_0315)).json()
    assert old["status"] == "AVSLUTTET" and old["avslutningsaarsak"] == "OVERGANG_TILTAK"
    assert old["sluttdato"] == "2025-03-31"
    assert old["overgang_til"] == {"tiltakstype": "ARBEIDSTRENING", "tiltakslop_id": new["id"]}
    hist_old = (await client.get(f"{source_url}/historikk", headers=sb_0315)).json()["elementer"]
    hist_new = (await client.get(f"{moved.headers['Location']}/historikk", headers=sb_0315)).json()["elementer"]
    assert hist_old[-1]["correlation_id"] == hist_new[0]["correlation_id"] == cid
    assert hist_old[-1]["type"] == "TiltakslopAvsluttet" and hist_new[0]["type"] == "TiltakslopInnvilget"
    assert new["posisjon"] == hist_new[0]["posisjon"] > hist_old[-1]["posisjon"]


async def test_a_refused_overgang_leaves_the_source_open_and_stores_nothing(client, sb_0315, server):
    source = await client.post(f"{API}/tiltakslop", json=aft(), headers=sb_0315)
    source_url = source.headers["Location"]
    before = await count_events(server.database_url)
    too_long = {k: v for k, v in arbeidstrening(fom="2025-04-01", tom="2027-12-31").items() if k != "person"}

    refused = await client.post(
        f"{source_url}/overgang", json={"sluttdato": "2025-03-31", "til": too_long}, headers=sb_0315
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "EXCEEDS_BASE_DURATION" and refused.json()["max_tom"] == "2026-03-31"
    assert await count_events(server.database_url) == before
    still = (await client.get(source_url, params={"per": "2025-04-01"}, headers=sb_0315)).json()
    assert still["status"] == "AKTIV" and still["sluttdato"] is None and still["versjon"] == 1


async def test_a_guarantee_runs_from_inclusion_through_contact_people_conversations_and_activities_to_its_end(
    client, sb_0315
):
    created = await client.post(f"{API}/ungdomsgarantier", json=garanti(), headers=sb_0315)
    assert created.status_code == 201, created.text
    g_url = created.headers["Location"]
    assert g_url == f"{API}/ungdomsgarantier/{created.json()['id']}"
    assert created.headers["ETag"] == '"1"'
    again = await client.post(f"{API}/ungdomsgarantier", json=garanti(fom="2025-02-01"), headers=sb_0315)
    assert again.status_code == 422 and again.json()["code"] == "ALREADY_ACTIVE"

    first = await client.post(f"{g_url}/kontaktperson", json={"nav_ident": "Z111111", "fom": "2025-01-07"},
                              headers=sb_0315)
    second = await client.post(f"{g_url}/kontaktperson", json={"nav_ident": "Z222222", "fom": "2025-02-01"},
                               headers=sb_0315)
    talk = await client.post(f"{g_url}/samtaler", json={"dato": "2025-02-20", "kanal": "MOTE"}, headers=sb_0315)
    lop = await client.post(
        f"{API}/tiltakslop",
        json=arbeidstrening(IDENT_B, fom="2025-02-01", tom="2025-07-31") | {"person": person(IDENT_B, "2003-05-20")},
        headers=sb_0315,
    )
    assert lop.status_code == 201, lop.text
    activity = await client.post(
        f"{g_url}/aktiviteter",
        json={"kind": "TILTAK", "tiltakslop_id": lop.json()["id"], "fom": "2025-02-01", "tom": "2025-07-31"},
        headers=sb_0315,
    )
    others = await client.post(f"{API}/tiltakslop", json=arbeidstrening(IDENT_D), headers=sb_0315)
    foreign = await client.post(
        f"{g_url}/aktiviteter",
        json={"kind": "TILTAK", "tiltakslop_id": others.json()["id"], "fom": "2025-02-01"},
        headers=sb_0315,
    )

    assert first.status_code == 200 and first.json()["kontaktperson"] == "Z111111", first.text
    assert second.status_code == 200 and second.json()["kontaktperson"] == "Z222222", second.text
    assert talk.status_code == 200 and talk.json()["siste_samtale"] == "2025-02-20", talk.text
    assert talk.json()["next_samtale_due"] == "2025-03-22"
    assert activity.status_code == 200, activity.text
    assert activity.json()["aktiviteter"][0]["tiltakslop_id"] == lop.json()["id"]
    assert foreign.status_code == 400 and foreign.json()["code"] == "INVALID_REQUEST"
    history = (await client.get(f"{g_url}/historikk", headers=sb_0315)).json()["elementer"]
    assert [e["type"] for e in history] == [
        "UngdomsgarantiInnvilget",
        "KontaktpersonTildelt",
        "KontaktpersonByttet",
        "OppfolgingssamtaleGjennomfort",
        "AktivitetKoblet",
    ]

    ended = await client.post(f"{g_url}/avslutning", json={"tom": "2025-03-01", "aarsak": "BEHOV_OPPHORT"},
                              headers=sb_0315)
    assert ended.status_code == 200, ended.text
    assert ended.json()["tom"] == "2025-03-01" and ended.json()["status"] == "AVSLUTTET"
    closed = await client.post(f"{g_url}/samtaler", json={"dato": "2025-03-01", "kanal": "MOTE"}, headers=sb_0315)
    assert closed.status_code == 422 and closed.json()["code"] == "GUARANTEE_CLOSED"
    corrected = await client.post(f"{g_url}/korrigeringer", json={"tom": "2025-02-28", "begrunnelse": "feil dato"},
                                  headers=sb_0315)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["tom"] == "2025-02-28"
    renewed = await client.post(f"{API}/ungdomsgarantier", json=garanti(fom="2025-03-03"), headers=sb_0315)
    assert renewed.status_code == 201, renewed.text
    assert renewed.json()["id"] != created.json()["id"]


async def test_the_person_overview_lists_every_lop_and_guarantee_of_one_person_only(client, sb_0315, system):
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(IDENT_B), headers=sb_0315)
    g = await client.post(f"{API}/ungdomsgarantier", json=garanti(IDENT_B), headers=sb_0315)
    await client.post(f"{API}/tiltakslop", json=arbeidstrening(IDENT_C), headers=sb_0315)
    assert lop.status_code == 201 and g.status_code == 201

    overview = await client.post(f"{API}/personer/oversikt", json={"person": person(IDENT_B)}, headers=system)
    nobody = await client.post(f"{API}/personer/oversikt", json={"person": person(IDENT_D)}, headers=system)

    assert overview.status_code == 200, overview.text
    assert [x["id"] for x in overview.json()["tiltakslop"]] == [lop.json()["id"]]
    assert [x["id"] for x in overview.json()["ungdomsgarantier"]] == [g.json()["id"]]
    assert nobody.status_code == 200 and nobody.json() == {"tiltakslop": [], "ungdomsgarantier": []}


async def test_an_annulled_lop_reads_annullert_frees_the_period_and_refuses_further_commands(
    client, sb_0315
):
    lop = await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)
    lop_url = lop.headers["Location"]

    annulled = await client.post(f"{lop_url}/annullering", json={"begrunnelse": "innvilget ved en feil"},
                                 headers=sb_0315)

    assert annulled.status_code == 200, annulled.text
    assert annulled.json()["status"] == "ANNULLERT"
    history = (await client.get(f"{lop_url}/historikk", headers=sb_0315)).json()["elementer"]
    assert history[-1]["type"] == "TiltakslopAnnullert"
    assert history[-1]["begrunnelse"] == "innvilget ved en feil"
    closed = await client.post(f"{lop_url}/avkorting", json={"ny_tom": "2025-03-31"}, headers=sb_0315)
    assert closed.status_code == 422 and closed.json()["code"] == "LOP_CLOSED"
    same_period = await client.post(f"{API}/tiltakslop", json=arbeidstrening(), headers=sb_0315)
    assert same_period.status_code == 201, same_period.text
    assert UUID(same_period.json()["id"]) != UUID(lop.json()["id"])


async def test_a_guarantee_reads_avsluttet_fylt_30_from_the_30th_birthday_before_any_event_says_so(
    client, sb_0315
):
    created = await client.post(
        f"{API}/ungdomsgarantier", json=garanti(IDENT_C, fodselsdato="1995-04-01"), headers=sb_0315
    )
    assert created.status_code == 201, created.text

    day_before = await client.get(created.headers["Location"], params={"per": "2025-03-31"}, headers=sb_0315)
    birthday = await client.get(created.headers["Location"], params={"per": "2025-04-01"}, headers=sb_0315)
    first_version = await client.get(created.headers["Location"], params={"versjon": 1}, headers=sb_0315)

    assert day_before.json()["status"] == "AKTIV" and day_before.json()["tom"] is None
    assert birthday.json()["status"] == "AVSLUTTET" and birthday.json()["aarsak"] == "FYLT_30"
    assert birthday.json()["tom"] == "2025-03-31" and birthday.headers["ETag"] == '"1"'
    assert first_version.status_code == 200 and first_version.json()["versjon"] == 1
