"""The console's component tests (Vitest: the error messages, the date formatting, the board's deadlines),
run from pytest so that `make test` runs them."""

from __future__ import annotations

import shutil
import subprocess

from tests.console.bygg import KONSOLL


def test_vitest(konsoll_bygget: None) -> None:
    npx = shutil.which("npx")
    assert npx, "npx (Node 20) is needed for the console's tests"
    resultat = subprocess.run(
        [npx, "vitest", "run", "--reporter=verbose"], cwd=KONSOLL, capture_output=True, text=True, timeout=300
    )
    assert resultat.returncode == 0, resultat.stdout + resultat.stderr
    assert " passed" in resultat.stdout and " failed" not in resultat.stdout, resultat.stdout
