"""Stopping a local listener: its worker threads finish first, and a listener whose wake-up pipe cannot be written
still stops, frees its port and raises nothing (the pipe once failed with ``EBADF`` in a teardown of the suite)."""

from __future__ import annotations

import os
import socket
import threading

from local.endpoint.listener import HOST, LocalListener, LoopbackGuard


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
        return True


def test_a_listener_whose_wake_up_pipe_is_closed_still_stops_and_frees_its_port(caplog):
    listener = LocalListener("a test listener", 0, LoopbackGuard(hello))
    listener.start()
    port = listener.port
    os.close(listener._server.trigger.trigger)  # what the EBADF meant: the pipe's write end is gone
    errors: list[BaseException] = []
    previous_hook = threading.excepthook
    threading.excepthook = lambda arguments: errors.append(arguments.exc_value)
    try:
        listener.stop()
    finally:
        threading.excepthook = previous_hook

    assert not listener._thread.is_alive()
    assert errors == []
    assert port_is_free(port)
    assert "wake-up pipe is closed" in caplog.text


def test_a_listener_stops_at_once_through_its_wake_up_pipe():
    listener = LocalListener("a test listener", 0, LoopbackGuard(hello))
    listener.start()
    port = listener.port

    listener.stop()

    assert not listener._thread.is_alive()
    assert port_is_free(port)
