import schemathesis
from tests.e2e import test_schema as ts
from tests.e2e.test_schema import settings  # noqa: F401

_orig = ts._Fuzz.run


def run(self):
    import schemathesis as sch
    from hypothesis import strategies as st
    from schemathesis import GenerationMode
    config = sch.Config.from_str(ts.CONFIG)
    schema = sch.openapi.from_url(f"{self.base_url}/schema/openapi.json", config=config, timeout=10)
    for result in schema.get_all_operations():
        operation = result.ok()
        if not ("/hendelser" in operation.path or "/revisjon" in operation.path):
            continue
        for strategy in schema.get_strategies_from_examples(operation):
            self.run_strategy(strategy)
        self.run_strategy(st.one_of(operation.as_strategy(m) for m in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)))


async def test_mine(settings, monkeypatch):  # noqa: F811
    from api.auth import lag_token
    monkeypatch.setattr(ts._Fuzz, "run", run)
    for rolle in ("REVISOR", "SYSTEM", "SAKSBEHANDLER"):
        monkeypatch.setattr(ts, "lag_token", lambda s, rolle=rolle, **kw: lag_token(s, ident="Z990001", roller=[rolle], enheter=["0315"]))
        await ts.test_openapi_schema_holds_for_generated_requests(settings)
