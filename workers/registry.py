"""The projections that exist, built from settings: what `forlop up`, `forlop rebuild` and the API use."""

from __future__ import annotations

from collections.abc import Callable

from projections.oversikt import Oversikt
from projections.runner import Projection
from store.mapper import ForlopMapper, mapper_for
from store.settings import Settings


def mapper(settings: Settings) -> ForlopMapper:
    """The mapper of one process (with field encryption when settings.field_encryption)."""
    return mapper_for(settings.secret("person"), kryptert=settings.field_encryption)


def oversikt(settings: Settings) -> Oversikt:
    return Oversikt(mapper(settings), settings.regler, settings.secret("person"))


PROJEKSJONER: dict[str, Callable[[Settings], Projection]] = {"oversikt": oversikt}
