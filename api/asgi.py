"""The app factory of a server worker process: `forlop api --workers N` runs
`uvicorn.run("api.asgi:create_app_from_env", factory=True, workers=N)`, and each worker builds its app
from the environment (the `forlop` command hands its command-line options on as FORLOP_* variables,
store/settings.py `Settings.command_environment`)."""

from __future__ import annotations

from litestar import Litestar

from api.app import create_app, freeze_startup_objects
from api.observability import configure_logging
from store.settings import get_settings


def create_app_from_env() -> Litestar:
    settings = get_settings()
    configure_logging(settings.log_level)
    app = create_app(settings)
    freeze_startup_objects()
    return app
