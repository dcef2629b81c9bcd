"""Process tuning of the serving commands: what start-up built stays out of collections."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap


def test_tune_gc_freezes_start_up_objects_in_a_serving_process() -> None:
    """In a fresh interpreter (freezing this test process would keep its garbage): after
    tune_gc, start-up objects sit in the permanent generation and a collection does not
    walk them, while cyclic garbage made later is still collected."""
    script = textwrap.dedent(
        """
        import gc, weakref
        import openvod.origin.app  # a serving process's imports
        from openvod.serving.tuning import tune_gc
        assert gc.get_freeze_count() == 0
        tune_gc()
        frozen = gc.get_freeze_count()
        assert frozen > 10_000, frozen

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a
        gone = weakref.ref(a)
        del a, b
        gc.collect()
        assert gone() is None  # cycles made after start-up are still collected
        print(frozen)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 10_000
    assert gc.get_freeze_count() == 0  # this process untouched
