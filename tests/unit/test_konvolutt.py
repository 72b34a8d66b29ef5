"""The envelope's fast helpers give exactly the values of the plain definitions (contract.md §3)."""

import hashlib
import hmac
from uuid import UUID, uuid4, uuid5

from domain.ident import Fodselsnummer
from domain.person import Person
from domain.tiltakslop import Tiltakslop, hendelse_id
from domain.ungdomsgaranti import Ungdomsgaranti
from store.envelope import TOMBSTONE_TOPIC, _hendelse_id, aggregat_av, pseudonym, publiseres


def test_event_id_is_the_domain_uuid5_of_aggregate_and_version():
    for versjon in (1, 2, 9, 10, 99, 100, 12345):
        for aggregat_id in (uuid4(), UUID(int=0), UUID(int=(1 << 128) - 1)):
            ny = _hendelse_id(aggregat_id, versjon)
            assert ny == hendelse_id(aggregat_id, versjon) == uuid5(aggregat_id, str(versjon))
            assert str(ny) == str(hendelse_id(aggregat_id, versjon))
            assert ny.version == 5 and type(ny) is UUID


def test_pseudonym_is_the_lowercase_hex_hmac_sha256_of_the_ident():
    ident = Fodselsnummer("11520160371")
    assert pseudonym(b"k", ident) == hmac.new(b"k", b"11520160371", hashlib.sha256).hexdigest()


def test_published_topics():
    lop = f"{Tiltakslop.__module__}:{Tiltakslop.__qualname__}.TiltakslopInnvilget"
    garanti = f"{Ungdomsgaranti.__module__}:{Ungdomsgaranti.__qualname__}.Innvilget"
    person = f"{Person.__module__}:{Person.__qualname__}.LopRegistrert"
    assert aggregat_av(lop) == "tiltakslop" and aggregat_av(lop) == "tiltakslop"  # twice: the cached answer
    assert aggregat_av(garanti) == "ungdomsgaranti"
    assert aggregat_av(person) is None and aggregat_av(person) is None
    assert publiseres(lop) and publiseres(garanti) and publiseres(TOMBSTONE_TOPIC)
    assert not publiseres(person)
