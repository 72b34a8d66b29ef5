"""The projections that exist, built from settings: what `forlop up`, `forlop rebuild` and the API use."""

from __future__ import annotations

from collections.abc import Callable

from projections.oversikt import Oversikt
from projections.runner import Projeksjon
from store.mapper import ForlopMapper
from store.settings import Settings


def oversikt(settings: Settings) -> Oversikt:
    return Oversikt(ForlopMapper(), settings.regler, settings.secret("person"))


PROJEKSJONER: dict[str, Callable[[Settings], Projeksjon]] = {"oversikt": oversikt}
