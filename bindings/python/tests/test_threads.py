import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np

import sightline
from conftest import random_interactions


def test_gil_released_during_fit():
    m = random_interactions(6000, 2000, 0.01, seed=1)
    als = sightline.ALS(factors=48, iterations=8, random_state=0, num_threads=1)
    t = threading.Thread(target=als.fit, args=(m,))
    ticks = 0
    start = time.perf_counter()
    t.start()
    while t.is_alive():
        ticks += 1
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    t.join()
    assert als.user_factors is not None
    # With the GIL held for the whole fit this thread could not wake up until
    # the fit ended (a tick or two); released, it ticks throughout.
    assert elapsed > 0.05, "fit too fast to measure; enlarge the matrix"
    assert ticks >= 10, f"only {ticks} ticks in {elapsed:.2f}s"


def test_concurrent_queries_are_consistent(model):
    expected = model.recommend(np.arange(50), N=10)[0]
    results = []

    def work():
        results.append(model.recommend(np.arange(50), N=10)[0])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(r, expected) for r in results)


def test_ctrl_c_interrupts_fit(tmp_path):
    script = textwrap.dedent(
        """
        import sys, time
        sys.path.insert(0, %r)
        import sightline
        from conftest import random_interactions
        m = random_interactions(3000, 1000, 0.01, seed=2)
        als = sightline.ALS(factors=32, iterations=100000, random_state=0)
        print("fitting", flush=True)
        t = time.perf_counter()
        try:
            als.fit(m)
        except KeyboardInterrupt as e:
            assert isinstance(e, sightline.FitInterrupted) and e.code == "INTERRUPTED", repr(e)
            assert isinstance(e.__cause__, KeyboardInterrupt), repr(e.__cause__)
            print("interrupted after %%.2fs fitted=%%s" %% (time.perf_counter() - t, als.user_factors is not None), flush=True)
            sys.exit(3)
        sys.exit(0)
        """ % os.path.dirname(__file__)
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "fitting"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("fit did not stop on SIGINT")
    assert proc.returncode == 3, (out, err)
    assert "fitted=False" in out
