"""Steady HTTP load from a process of its own, for tests that time a server under load.

    python -m qrplatform.testing.steady_load PORT PATH [PATH ...]

One client thread per PATH, each sending GET requests one after the other on a new connection,
until a line (or end of file) arrives on stdin; then one JSON object on stdout: ``requests``,
one ``[path, status, started, waited]`` per request (``started`` on this process's
``time.perf_counter()``, ``waited`` in seconds; status 0: no answer, the connection failed),
and ``errors``, how many times each connection error was seen.

A process of its own, small and with the garbage collector off, so that what a test measures is
the server: clients running inside the test process share its interpreter with everything the
test session has built up, and a collection of that heap, or the test's own work, holds every
client at once and shows up as a server stall.
"""

from __future__ import annotations

import gc
import http.client
import json
import sys
import threading
import time
from collections import Counter

HEADERS = {"User-Agent": "Mozilla/5.0 (iPhone)"}


def timed_get(port: int, path: str, errors: Counter) -> tuple[int, float, float]:
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers=HEADERS)
        response = connection.getresponse()
        response.read()
        return response.status, started, time.perf_counter() - started
    except (OSError, http.client.HTTPException) as exc:
        errors[f"{type(exc).__name__}: {exc}"] += 1
        waited = time.perf_counter() - started
        time.sleep(0.01)  # a client of a server that is not there does not spin
        return 0, started, waited
    finally:
        connection.close()


def main(argv: list[str]) -> None:
    gc.disable()
    port, paths = int(argv[0]), argv[1:]
    stop = threading.Event()
    results: list[list] = []  # list.append is atomic: no lock needed
    errors: Counter = Counter()

    def client(path: str) -> None:
        while not stop.is_set():
            results.append([path, *timed_get(port, path, errors)])

    threads = [threading.Thread(target=client, args=(path,), daemon=True) for path in paths]
    for thread in threads:
        thread.start()
    sys.stdin.readline()
    stop.set()
    for thread in threads:
        thread.join(35)
    json.dump({"requests": results, "errors": errors}, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
