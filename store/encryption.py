"""Field encryption of personal data inside stored events and snapshots, one key per person.

An event or aggregate state whose `person` is a `Fodselsnummer` stores `person` and `fodselsdato` as::

    {"__kryptert__": {"p": "<person record id>", "c": "<base64 of 12-byte nonce ‖ AES-256-GCM ciphertext>"}}

The plaintext is the field's own JSON; the associated data is the originator id and the field name, so a
ciphertext moved to another aggregate or field does not decrypt. The nonce is synthetic (an HMAC, under a
key derived from the person's key, of the associated data and the plaintext, as in AES-GCM-SIV): the same
value encrypts to the same bytes, so a rebuilt view is byte-equal to the one it replaces, and a nonce is
never reused for another plaintext. What that reveals (that two encryptions of one field of one aggregate
hold the same value) is nothing the aggregate's own history does not show. The person record id (`p`) is the keyed
hash of the identifier (`domain.person.person_id`) under the person key, the same id as the `Person`
aggregate and the views' `person` column, so a stored row names its key without naming the person.

Decoding with a forgotten or missing key (or a ciphertext that does not authenticate under the current key,
e.g. after a returning person got a new one) gives None: the field is erased. Encoding for a forgotten
person writes None. The keys come from a `store.keys.KeyRing` that async code has filled
(`person_ids` finds the ids in stored bytes without parsing them).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.ident import Fodselsnummer
from domain.person import kjent_person_id, person_id
from store.keys import TABELL, KeyRing

PERSONLIGE = ("person", "fodselsdato")
MARKOR = "__kryptert__"
MARKOR_BYTES = b'"__kryptert__"'
_KJENTE = 8192
_PREFIKS = '"__kryptert__":{"p":"'  # what comes before the person record id in a stored encrypted field
_P = re.compile(re.escape(_PREFIKS.encode()) + rb'([0-9a-f-]{36})"')

# The key rows of the persons that the stored rows just loaded name, read in the same statement as those
# rows: a query over `loaded` (`AsyncPostgresRecorder.select_for_load_many_with`) that finds, as `_P` does,
# the person record id after the first marker of each state. A state naming more than one person has the
# others' keys loaded by `KeyRing.last` afterwards (`person_ids` finds them all).
NOKLER_TIL_LASTET = f"""SELECT k.person_id, NULL::boolean, NULL::bigint, NULL::text, k.nokkel FROM {TABELL} k
WHERE k.person_id = ANY(ARRAY(
    SELECT CASE WHEN t ~ '^[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}}$' THEN t::uuid END
    FROM (
        SELECT encode(substring(state FROM position('\\x{_PREFIKS.encode().hex()}'::bytea IN state) + {len(_PREFIKS)} FOR 36), 'escape')
        FROM loaded WHERE position('\\x{_PREFIKS.encode().hex()}'::bytea IN state) > 0
    ) funn (t)
))"""


def person_ids(states: Iterable[bytes]) -> set[UUID]:
    """The person record ids named by the encrypted fields in stored states."""
    funn: set[bytes] = set()
    for state in states:
        if MARKOR_BYTES in state:
            funn.update(_P.findall(state))
    return {UUID(m.decode()) for m in funn}


class FieldEncryption:
    """The mapper's field cipher. `person_nokkel` keys the person record id (needed to encode only)."""

    def __init__(self, nokkelring: KeyRing, person_nokkel: bytes | None = None) -> None:
        self.nokkelring = nokkelring
        self.person_nokkel = person_nokkel
        self._encoder = msgspec.json.Encoder(enc_hook=_enc_hook, decimal_format="string")
        self._decoder = msgspec.json.Decoder()
        # Ciphertexts recently decrypted, by (aggregate, field, plaintext): encrypting the same value of the
        # same field of the same aggregate under the same key gives these bytes again (synthetic nonce), so
        # a snapshot or view row right after reading the events reuses them instead of encrypting anew.
        self._kjente: dict[tuple[UUID, str, bytes], tuple[bytes, dict[str, str]]] = {}

    def person_id_av(self, person: Any) -> UUID | None:
        if not isinstance(person, Fodselsnummer):
            return None
        if self.person_nokkel is None:
            raise RuntimeError("this cipher decodes only: it has no person key to encode with")
        return person_id(self.person_nokkel, person)

    # --- encoding -------------------------------------------------------------------------------------

    def encrypt(self, state: dict[str, Any], originator_id: UUID) -> None:
        """Replace the personal fields of `state` (in place) by their ciphertexts, or None if forgotten."""
        pid = self.person_id_av(state.get("person"))
        if pid is None:
            return
        nokkel = self.nokkelring.nokkel(pid)
        for felt in PERSONLIGE:
            if felt not in state or state[felt] is None:
                continue
            if nokkel is None:
                state[felt] = None
                continue
            klartekst = self._encoder.encode(state[felt])
            kjent = self._kjente.get((originator_id, felt, klartekst))
            if kjent is not None and kjent[0] == nokkel:
                state[felt] = {MARKOR: kjent[1]}  # what encrypting gives (the nonce is synthetic), read before
                continue
            aad = _aad(originator_id, felt)
            nonce = hmac.new(_nonce_nokkel(nokkel), aad + klartekst, hashlib.sha256).digest()[:12]
            c = _aes(nokkel).encrypt(nonce, klartekst, aad)
            state[felt] = {MARKOR: {"p": str(pid), "c": base64.b64encode(nonce + c).decode()}}

    # --- decoding -------------------------------------------------------------------------------------

    def decrypt(self, state: dict[str, Any], originator_id: UUID) -> None:
        """Replace the ciphertexts in `state` (in place) by their JSON values, or None if unreadable."""
        ider: dict[str, UUID] = {}
        for felt in PERSONLIGE:
            verdi = state.get(felt)
            if not (isinstance(verdi, dict) and MARKOR in verdi):
                continue
            merket = verdi[MARKOR]
            p = merket["p"]
            nokkel = self.nokkelring.nokkel(ider.get(p) or ider.setdefault(p, UUID(p)))
            if nokkel is None:
                state[felt] = None
                continue
            raw = base64.b64decode(merket["c"])
            try:
                klartekst = _aes(nokkel).decrypt(raw[:12], raw[12:], _aad(originator_id, felt))
            except InvalidTag:  # a key that replaced a forgotten one: the old value stays erased
                state[felt] = None
                continue
            if len(self._kjente) >= _KJENTE:
                self._kjente.clear()
            self._kjente[(originator_id, felt, klartekst)] = (nokkel, merket)
            klar = self._decoder.decode(klartekst)
            if felt == "person" and isinstance(klar, dict) and isinstance(klar.get("verdi"), str):
                klar = Fodselsnummer.fra_lager(klar["verdi"])  # authenticated: checked when first accepted
                if self.person_nokkel is not None:  # `p` is its person record id (written by `encrypt`)
                    kjent_person_id(self.person_nokkel, klar, ider[p])
            state[felt] = klar


# The cipher and the nonce key of the most recent persons' keys, derived once rather than per field (a
# forgotten person's key is never asked for again: the key ring answers None).


@functools.lru_cache(maxsize=4096)
def _aes(nokkel: bytes) -> AESGCM:
    return AESGCM(nokkel)


@functools.lru_cache(maxsize=4096)
def _nonce_nokkel(nokkel: bytes) -> bytes:
    return hmac.new(nokkel, b"forlop-felt-nonce", hashlib.sha256).digest()


def _aad(originator_id: UUID, felt: str) -> bytes:
    return originator_id.bytes + felt.encode()


def _enc_hook(obj: Any) -> Any:
    if isinstance(obj, UUID):
        return str(obj)
    raise NotImplementedError(f"cannot encode {type(obj)!r}")


def er_glemt(obj: Any) -> bool:
    """True if a decoded event or aggregate had its personal fields erased."""
    return any(felt in vars(obj) and vars(obj)[felt] is None for felt in PERSONLIGE)
