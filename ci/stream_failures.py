"""pytest plugin for ci/gpu.sh: append each failure to a file the moment it is reported.

A run cut off by a time limit then still leaves every failure seen so far, with
its traceback, instead of nothing (pytest prints failures only at the end).
The file is named by ``PML_FAILURES_FILE``; load with ``-p stream_failures``
and ``ci/`` on ``PYTHONPATH``.
"""

import os


def pytest_runtest_logreport(report):
    path = os.environ.get("PML_FAILURES_FILE")
    # Under xdist the workers write; the controller's copies of their reports carry `node`.
    if not path or not report.failed or hasattr(report, "node"):
        return
    text = str(report.longrepr)
    if len(text) > 3000:
        text = text[:1000] + "\n[...]\n" + text[-2000:]
    with open(path, "a", encoding="utf-8") as f:
        f.write(f"=== {report.nodeid} ({report.when})\n{text}\n\n")
