"""Field encryption in the mapper, without a database: keys put straight into the key cache."""

from __future__ import annotations

import os
from datetime import date
from uuid import uuid4

import pytest
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import MapperDeserialisationError

from domain.commands import InnvilgGaranti, Personalia, TildelKontaktperson
from domain.ident import Fodselsnummer
from domain.person import person_id
from domain.ungdomsgaranti import Ungdomsgaranti
from store.encryption import er_glemt, person_ids
from store.mapper import ForlopMapper, mapper_for
from tests.hjelp import identer, ktx

KEY = b"unit-person-key"
IDENT = identer(1, "200503")[0]


def garanti() -> Ungdomsgaranti:
    cmd = InnvilgGaranti(
        person=Personalia(ident=IDENT, fodselsdato=date(2003, 5, 20)),
        fom=date(2025, 1, 2),
        nav_enhet="0315",
        bistandsbehov_vedtak_ref="14A-1",
    )
    return Ungdomsgaranti.innvilg(cmd, id=uuid4(), kontekst=ktx())


def med_nokkel() -> tuple[ForlopMapper, object]:
    mapper = mapper_for(KEY, kryptert=True)
    pid = person_id(KEY, Fodselsnummer(IDENT))
    mapper.felt_cipher.nokkelring.sett(pid, os.urandom(32))  # type: ignore[union-attr]
    return mapper, pid


def test_personal_fields_are_stored_encrypted_and_read_back():
    mapper, pid = med_nokkel()
    g = garanti()
    event = g.collect_events()[0]
    stored = mapper.to_stored_event(event)
    assert IDENT.encode() not in stored.state and b"2003-05-20" not in stored.state
    assert person_ids([stored.state]) == {pid}
    assert mapper.to_domain_event(stored) == event
    snapshot = mapper.to_stored_event(Snapshot.take(g))
    assert IDENT.encode() not in snapshot.state
    assert mapper.to_domain_event(snapshot).mutate(None).person == Fodselsnummer(IDENT)
    assert mapper.to_stored_event(event).state == stored.state  # synthetic nonce: the same bytes again


def test_a_forgotten_key_reads_as_erased_and_a_missing_load_fails_loudly():
    mapper, pid = med_nokkel()
    g = garanti()
    stored = mapper.to_stored_event(g.collect_events()[0])
    mapper.felt_cipher.nokkelring.sett(pid, None)  # type: ignore[union-attr]
    event = mapper.to_domain_event(stored)
    assert event.person is None and event.fodselsdato is None and er_glemt(event)
    with pytest.raises(MapperDeserialisationError, match="no key loaded"):
        mapper_for(KEY, kryptert=True).to_domain_event(stored)


def test_clear_events_still_load_and_a_moved_ciphertext_does_not_decrypt():
    mapper, _ = med_nokkel()
    g = garanti()
    event = g.collect_events()[0]
    assert mapper.to_domain_event(ForlopMapper().to_stored_event(event)) == event
    a = mapper.to_stored_event(event)
    flyttet = type(a)(uuid4(), a.originator_version, a.topic, a.state)
    assert mapper.to_domain_event(flyttet).person is None


@pytest.mark.parametrize("kryptert", [False, True])
def test_kod_tilstand_gives_the_bytes_of_a_snapshot_taken_and_stored(kryptert):
    """The views' per-row state (`encode_state`, no Snapshot object built) is byte-equal to storing
    `Snapshot.take` stamped with the aggregate's last change, and decodes back to the aggregate."""
    import dataclasses

    mapper = med_nokkel()[0] if kryptert else ForlopMapper()
    g = garanti()
    g.tildel_kontaktperson(TildelKontaktperson(nav_ident="Z123456", fom=date(2025, 1, 10)), ktx())
    snapshot = mapper.to_stored_event(dataclasses.replace(Snapshot.take(g), timestamp=g.modified_on))

    assert mapper.encode_state(g, g.modified_on) == snapshot.state
    assert (IDENT.encode() in snapshot.state) is not kryptert
    tilbake = mapper.to_domain_event(snapshot).mutate(None)
    assert tilbake.person == Fodselsnummer(IDENT) and tilbake.kontaktperson == "Z123456"


def test_the_key_ring_is_bounded_and_keeps_the_keys_read_within_its_ttl() -> None:
    """A long-running API or a rebuild sees every person once: the ring must not keep them all."""
    import uuid as _uuid

    from store.keys import KeyNotLoaded, KeyRing

    ring = KeyRing(ttl=2.0, maks=100)
    gamle = [_uuid.uuid4() for _ in range(100)]
    ring.ta_imot(((p, b"k" * 32) for p in gamle), naa=0.0)
    assert len(ring) == 100

    nye = [_uuid.uuid4() for _ in range(30)]
    ring.ta_imot(((p, b"n" * 32) for p in nye), naa=10.0)  # the old ones are past their ttl: dropped
    assert len(ring) == 30
    assert all(ring.nokkel(p) == b"n" * 32 for p in nye)
    with pytest.raises(KeyNotLoaded):
        ring.nokkel(gamle[0])

    # More fresh keys than the bound: the older half of the fresh ones goes, the newest batch stays whole.
    for runde in range(10):
        batch = [_uuid.uuid4() for _ in range(20)]
        ring.ta_imot(((p, b"b" * 32) for p in batch), naa=10.0 + runde * 0.01)
        assert len(ring) <= 100
        assert all(ring.nokkel(p) == b"b" * 32 for p in batch)
