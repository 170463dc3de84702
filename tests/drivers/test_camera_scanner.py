"""CameraScanner (production code) on generated footage through cv2.VideoCapture, and its acceptance rule.

There is no /dev/video* here (TESTING.md §4): the camera is an MJPEG .avi or a PNG sequence written by
drivers.sim.camera, read by the same VideoCapture; a missing file is an unplugged camera.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from drivers.base import ScanRead
from drivers.errors import DeviceGone, OptionError
from drivers.registry import check_device, create_device
from drivers.runner import DeviceRunner, HealthState, backoff_delays
from drivers.scanner.camera import CameraScanner, ConfirmFilter
from drivers.scanner.decode import FrameDecoder, Image, Symbol
from drivers.sim.camera import (
    CameraSimulator,
    Placement,
    background,
    ean13_symbol,
    pass_by,
    qr_symbol,
    write_png_sequence,
)
from kiosk.clock import SystemClock

from .test_runner import Recorder, wait_for

EAN13 = "5901234123457"
W, H = 640, 480
PLACE = Placement(module_px=2.5, angle=6.0, tilt=8.0, blur=0.5, noise=4.0)


def sym(text: str, fmt: str = "EAN13", decoder: str = "zxing") -> Symbol:
    return Symbol(text, "]E0", fmt, decoder)


# -- the acceptance rule, pure ----------------------------------------------------------------------

def run_filter(filt: ConfirmFilter, frames: list[list[Symbol]]) -> list[tuple[int, str]]:
    """(frame number from 1, text) of every acceptance."""
    return [(i, s.text) for i, reads in enumerate(frames, 1) for s in filt.update(reads)]


def test_accepted_after_two_reads_and_not_repeated_while_in_view() -> None:
    frames = [[], [sym(EAN13)], [sym(EAN13)]] + [[sym(EAN13)], []] * 20
    assert run_filter(ConfirmFilter(2, 3, 15), frames) == [(3, EAN13)]


def test_accepted_again_after_it_left_for_gone_frames() -> None:
    seen, gone = [[sym(EAN13)]] * 3, [[]] * 15
    assert run_filter(ConfirmFilter(2, 3, 15), seen + gone + seen) == [(2, EAN13), (20, EAN13)]
    assert run_filter(ConfirmFilter(2, 3, 15), seen + gone[:14] + seen) == [(2, EAN13)]   # briefly hidden


def test_a_single_read_is_never_accepted() -> None:
    """A misread that appears once (or twice too far apart) never becomes a scan."""
    frames = [[sym("5901234447102")], [], [], [sym("5901234447102")], [], [], []]
    assert run_filter(ConfirmFilter(2, 3, 15), frames) == []
    assert run_filter(ConfirmFilter(2, 3, 15), [[sym(EAN13)], [], [sym(EAN13)]]) == [(3, EAN13)]


def test_reads_from_both_decoders_and_both_upc_forms_agree() -> None:
    """zxing's 12-digit UPC-A and zbar's 13-digit EAN-13 of the same code are one code."""
    frames = [[Symbol("036000291452", "]E0", "UPCA", "zxing")], [Symbol("0036000291452", "]E0", "EAN13", "zbar")]]
    assert run_filter(ConfirmFilter(2, 3, 15), frames) == [(2, "0036000291452")]


def test_two_codes_in_view_reset_and_one_read_mode() -> None:
    filt = ConfirmFilter(2, 3, 15)
    assert run_filter(filt, [[sym("A"), sym("B")], [sym("B"), sym("A"), sym("A")]]) == [(2, "B"), (2, "A")]
    filt.reset()
    assert run_filter(filt, [[sym("A")], [sym("A")]]) == [(2, "A")]
    assert run_filter(ConfirmFilter(1, 1, 5), [[sym("A")]]) == [(1, "A")]
    with pytest.raises(ValueError):
        ConfirmFilter(3, 2, 15)


# -- the driver on footage ------------------------------------------------------------------------------

@cache
def footage(text: str = EAN13, *, hold: int = 8, passes: int = 1, gap: int = 20) -> tuple[Image, ...]:
    """A product carried through the view ``passes`` times, ``gap`` empty frames apart."""
    symbol = qr_symbol(text, 4) if not text.isdigit() else ean13_symbol(text, 4)
    place = PLACE if text.isdigit() else Placement(module_px=3.5, angle=10.0, noise=4.0)
    one = pass_by(background(W, H, 1), symbol, 4, place, enter=4, hold=hold, leave=3, empty=2)
    frames = list(one)
    for _ in range(passes - 1):
        frames += [background(W, H, 1)] * gap + one
    return tuple(frames)


@pytest.fixture
def camera() -> Iterator[CameraSimulator]:
    sim = CameraSimulator()
    yield sim
    sim.close()


def drain(scanner: CameraScanner) -> list[tuple[int, ScanRead]]:
    """(frame number, scan) of everything read until the footage ends (DeviceGone)."""
    out = []
    with pytest.raises(DeviceGone, match="no frames"):
        while True:
            reading = scanner.read(0.5)
            if reading is not None:
                out.append((scanner.frames, reading))
    return out


def first_readable(frames: tuple[Image, ...], text: str) -> int:
    """The first frame (from 1) in which the camera's decoder can read ``text`` at all."""
    decoder = FrameDecoder()
    return next(i for i, f in enumerate(frames, 1) if text in [s.text for s in decoder.decode(f)])


def test_a_code_passing_by_is_scanned_once_within_three_frames(camera: CameraSimulator) -> None:
    """GIVEN footage of a product entering, held 8 frames, leaving WHEN read THEN one scan, ]E0, at most
    two frames after the code became readable (the second identical read)."""
    frames = footage()
    camera.show(list(frames))
    scanner = CameraScanner("camera", camera.url)
    scanner.open()
    scans = drain(scanner)
    assert [s for _, s in scans] == [ScanRead(EAN13, "]E0")]
    readable = first_readable(frames, EAN13)
    assert readable <= scans[0][0] <= readable + 2
    assert scanner.frames == len(frames)


def test_not_repeated_while_held_but_again_after_it_left(camera: CameraSimulator) -> None:
    camera.show(list(footage(hold=25, passes=2, gap=20)))
    scanner = CameraScanner("camera", camera.url, gone_frames=15)
    scanner.open()
    assert [s.text for _, s in drain(scanner)] == [EAN13, EAN13]


def test_a_short_disappearance_is_not_a_new_scan(camera: CameraSimulator) -> None:
    camera.show(list(footage(hold=4, passes=2, gap=0)))   # out of sight ~10 frames: leaving, then entering
    scanner = CameraScanner("camera", camera.url, gone_frames=15)
    scanner.open()
    assert [s.text for _, s in drain(scanner)] == [EAN13]


def test_qr_digital_link_from_a_png_sequence(tmp_path: Path) -> None:
    """An image sequence is a camera too; a QR gives its text and ]Q1."""
    link = "https://id.gs1.org/01/09501101530003/10/AB-123"
    pattern = write_png_sequence(tmp_path, footage(link))
    scanner = CameraScanner("camera", pattern)
    scanner.open()
    assert [s for _, s in drain(scanner)] == [ScanRead(link, "]Q1")]


def test_unplug_is_a_missing_file_and_replug_scans_again(camera: CameraSimulator) -> None:
    camera.show(list(footage()))
    scanner = CameraScanner("camera", camera.url)
    camera.unplug()
    with pytest.raises(DeviceGone, match="cannot open"):
        scanner.open()
    camera.plug()
    scanner.open()
    assert len(drain(scanner)) == 1
    scanner.open()                       # a new connection: what is in view is a new sighting
    assert len(drain(scanner)) == 1


def test_runner_reports_the_camera_lost_and_back(camera: CameraSimulator) -> None:
    """GIVEN the runner WHEN the footage ends and the file is gone THEN disconnected; put back THEN scans again."""
    recorder = Recorder()
    camera.show(list(footage()))
    runner = DeviceRunner(CameraScanner("camera", camera.url), on_reading=recorder.on_reading,
                          on_health=recorder.on_health, clock=SystemClock(), poll_s=0.05,
                          backoff=backoff_delays(0.05, 1.0, 0.05))
    runner.start()
    try:
        assert recorder.readings.get(timeout=5.0)[:2] == ("camera", ScanRead(EAN13, "]E0"))
        camera.unplug()
        wait_for(lambda: runner.health.state is HealthState.DISCONNECTED and "cannot open" in
                 (runner.health.last_error or ""), timeout=5.0)
        camera.plug()
        assert recorder.readings.get(timeout=5.0)[1] == ScanRead(EAN13, "]E0")
    finally:
        runner.stop()


def test_options_and_missing_devices() -> None:
    assert check_device("scanner", "camera", {"roi": 0.5, "confirm_reads": 2, "zbar": False}) == []
    assert check_device("scanner", "camera", {"roi": 2.0})[0].startswith("roi:")
    with pytest.raises(OptionError, match="formats"):
        create_device("scanner", "camera", "0", {"formats": "EAN13,Aztec"})
    with pytest.raises(OptionError, match="confirm_reads"):
        CameraScanner("camera", "0", confirm_reads=4, confirm_window=3)
    with pytest.raises(DeviceGone, match="no camera at /dev/video97"):
        CameraScanner("camera", "/dev/video97").open()
