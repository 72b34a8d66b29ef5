"""api.auth.Tokener: the tokens the JWT middleware accepted, remembered only until their `exp`.

Shared by the middleware and the fast path (api/rask.py), so a wrong expiry here would let both accept an
expired token alike; tests/e2e/test_rask.py (which compares the two) cannot see it, this test does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from litestar.middleware.authentication import AuthenticationResult
from litestar.security.jwt import Token

from api.auth import Tokener


def _resultat(exp: datetime) -> AuthenticationResult:
    return AuthenticationResult(user="Z990001", auth=Token(sub="Z990001", exp=exp))


def test_a_remembered_token_is_given_until_its_exp_and_then_forgotten() -> None:
    tokener = Tokener()
    assert tokener.hent("a") is None
    gyldig = _resultat(datetime.now(UTC) + timedelta(hours=1))
    tokener.husk("a", gyldig)
    assert tokener.hent("a") is gyldig

    utlopt = _resultat(datetime.now(UTC) + timedelta(seconds=1))
    tokener.husk("b", utlopt)
    assert tokener.hent("b") is utlopt
    time.sleep(max(0.0, utlopt.auth.exp.timestamp() - time.time()) + 0.05)
    assert tokener.hent("b") is None
    assert tokener.hent("b") is None  # forgotten, not found again
    assert tokener.hent("a") is gyldig


def test_the_store_is_bounded() -> None:
    tokener = Tokener()
    exp = datetime.now(UTC) + timedelta(hours=1)
    for i in range(Tokener._MAKS + 10):  # noqa: SLF001
        tokener.husk(str(i), _resultat(exp))
    assert len(tokener._kjente) <= Tokener._MAKS  # noqa: SLF001
    assert tokener.hent(str(Tokener._MAKS + 9)) is not None  # noqa: SLF001
