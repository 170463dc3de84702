"""Stopping the HTTP server while a worker still finishes a response."""

from __future__ import annotations

import pytest
from flask import Flask

from web.server import BackgroundServer


def test_a_late_wake_up_after_close_is_dropped_not_raised() -> None:
    """A worker that finishes after the server closed pulls the loop's trigger: no EBADF in that thread."""
    server = BackgroundServer(Flask(__name__)).start()
    server.stop()
    trigger = server._server.trigger
    assert trigger._fds == []                      # closed by stop()
    trigger.pull_trigger()                         # what a late worker does; raised OSError(EBADF) before


def test_a_wake_up_on_an_open_trigger_still_reports_real_errors() -> None:
    server = BackgroundServer(Flask(__name__))
    trigger = server._server.trigger
    import os
    os.close(trigger.trigger)                      # broken while the server still runs: a real fault
    with pytest.raises(OSError):
        trigger.pull_trigger()
    trigger._fds = [trigger._fds[0]]
    server._server.close()
