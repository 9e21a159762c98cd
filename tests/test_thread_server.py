"""The tests' thread server (browser tests' live server, local endpoints): on the way out it
waits for the requests still being answered, and only for those."""

from __future__ import annotations

import threading
import time
from http.client import HTTPConnection
from urllib.parse import urlsplit
from urllib.request import urlopen

from qrplatform.testing.servers import thread_server


def test_a_client_that_hangs_up_mid_answer_does_not_hold_the_server():
    """A browser tab closed at the end of a test resets its connections; the server used to
    wait its whole 10 s for those requests after each such test."""

    def big(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"x" * 1_000_000]

    with thread_server(big) as url:
        address = urlsplit(url)
        client = HTTPConnection(address.hostname, address.port, timeout=5)
        client.request("GET", "/")
        assert client.getresponse().read1(100) == b"x" * 100
        client.close()  # with the rest unread: the server's socket is reset
        time.sleep(0.2)
        left = time.monotonic()
    assert time.monotonic() - left < 2


def test_a_request_still_being_answered_is_waited_for():
    started, finished = threading.Event(), threading.Event()

    def slow(environ, start_response):
        started.set()
        time.sleep(0.5)
        finished.set()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"done"]

    answers = []
    with thread_server(slow) as url:
        client = threading.Thread(target=lambda: answers.append(urlopen(url, timeout=5).read()))
        client.start()
        assert started.wait(5)
    assert finished.is_set()
    client.join(5)
    assert answers == [b"done"]
