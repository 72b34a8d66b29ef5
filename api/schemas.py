"""Request bodies of the reads of contract.md §2 that carry the person (never in a URL), as msgspec Structs.

The commands' bodies are the commands themselves (`domain.commands`), decoded strictly by
`api.common.CommandRequest`.
"""

from __future__ import annotations

import msgspec

from domain.commands import Personalia


class OversiktCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    """`POST /personer/oversikt` and `POST /personer/glem`: the person looked up or forgotten."""

    person: Personalia | None = None
