"""Simulators that speak each device's real wire protocol over a real pseudo-terminal.

The production driver opens the simulator's stable link (``sim.port``) through
``serial.serial_for_url`` exactly as it opens ``/dev/kiosk/idcard`` on a kiosk, so the
driver's own framing, timing and error handling run in tests and in the demo.
"""
