"""settle_heap, in a child process: it changes process-wide GC state."""

import subprocess
import sys


def test_settle_heap_freezes_what_the_stages_built_and_makes_young_collections_rarer():
    code = ("import gc; from newswatch.pipeline.runtime import settle_heap, GC_THRESHOLDS; "
            "kept = [[i] for i in range(1000)]; before = gc.get_freeze_count(); settle_heap(); "
            "print(before, gc.get_freeze_count(), gc.get_threshold() == GC_THRESHOLDS, gc.get_threshold()[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    before, frozen, thresholds_set, gen0 = int(out[0]), int(out[1]), out[2], int(out[3])
    assert before == 0 and frozen >= 1000 and thresholds_set == "True" and gen0 > 700
