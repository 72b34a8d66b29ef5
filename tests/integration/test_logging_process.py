"""`configure_logging` in a process of its own: a clean exit writes every line still queued, and a forked
child (`forlop rebuild --arbeidere`) writes its lines in the same format."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap


def run(script: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stderr.splitlines()]


def test_a_clean_exit_writes_every_queued_line() -> None:
    lines = run(
        """
        import logging
        from api.observability import configure_logging
        configure_logging("INFO")
        for i in range(5000):
            logging.getLogger("forlop.x").info("line %d", i)
        """
    )

    assert [r["message"] for r in lines] == [f"line {i}" for i in range(5000)]


def test_a_forked_child_logs_in_the_same_format() -> None:
    lines = run(
        """
        import logging, multiprocessing, os
        from api.observability import configure_logging

        def child():
            logging.getLogger("forlop.child").info("from the child %s", "15085012344")
            os._exit(0)  # as a forked worker may end: no atexit, no flush by anyone else

        configure_logging("INFO")
        logging.getLogger("forlop.parent").info("before the fork")
        p = multiprocessing.get_context("fork").Process(target=child)
        p.start()
        p.join()
        logging.getLogger("forlop.parent").info("after the fork")
        """
    )

    assert sorted((r["logger"], r["message"]) for r in lines) == [
        ("forlop.child", "from the child " + "*" * 11),
        ("forlop.parent", "after the fork"),
        ("forlop.parent", "before the fork"),
    ]
