"""kiosk.barcode_cli: what ``kiosk decode`` and ``kiosk scan`` print, through the production drivers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from drivers.sim.camera import Placement, background, ean13_symbol, pass_by, write_avi
from drivers.sim.scanner import ScannerSimulator
from kiosk.barcode_cli import decode_files, guess_driver, parse_option_args, scan_lines
from kiosk.barcodes import VariableMeasureLayout
from kiosk.errors import ConfigError

SAMPLES = Path(__file__).resolve().parent / "data" / "barcode-samples"


def test_decode_photos_gives_one_json_object_per_code() -> None:
    out = list(decode_files([SAMPLES / "ean13-1" / "10.webp", SAMPLES / "datamatrix-5" / "issue794-12-1.webp",
                             SAMPLES / "qrcode-1" / "13.webp"]))
    assert out[0] == {"file": str(SAMPLES / "ean13-1" / "10.webp"), "format": "EAN13", "symbology": "]E0",
                      "text": "8480010001136", "decoder": "zxing", "kind": "gtin", "gtin": "08480010001136"}
    assert (out[1]["symbology"], out[1]["gtin"], out[1]["expiry"], out[1]["batch"]) == (
        "]d2", "08903819987659", "2031-06-30", "BNav4Cam2")
    assert (out[2]["text"], out[2]["error"]) == ("http://google.com/gwt/n?u=bluenile.com", "unknown_barcode")
    assert json.loads(json.dumps(out)) == out          # JSON-ready, GS included


def test_decode_a_video_reports_each_code_once(tmp_path: Path) -> None:
    frames = pass_by(background(640, 480, 2), ean13_symbol("2012345012349", 4), 4, Placement(module_px=2.5),
                     enter=3, hold=6, leave=3, empty=2)
    video = write_avi(tmp_path / "clip.avi", frames)
    weight = VariableMeasureLayout(frozenset({"20"}), "weight", 5, 5, 3)
    (found,) = decode_files([video], [weight])
    assert found["file"] == str(video) and found["text"] == "2012345012349"
    assert 2 <= found["frame"] <= 6 and found["frames"] >= 5
    assert (found["kind"], found["item_code"], found["weight"]) == ("variable_measure", "2012345",
                                                                    {"value": "1.234", "unit": "kg"})


def test_decode_reports_files_it_cannot_read(tmp_path: Path) -> None:
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "notes.txt").write_text("hello", encoding="utf-8")
    out = list(decode_files([tmp_path / "missing.jpg", tmp_path / "broken.png", tmp_path / "notes.txt"]))
    assert [o["error"] for o in out] == ["no such file", "not an image OpenCV can read",
                                         f"{tmp_path / 'notes.txt'}: not a video or image sequence OpenCV can read"]


def test_scan_prints_health_and_interpreted_scans_from_the_serial_driver() -> None:
    """GIVEN a serial scanner on a pty WHEN two codes are scanned THEN health lines, then two scans."""
    sim = ScannerSimulator()
    sim.start()
    lines: list[dict[str, Any]] = []
    try:
        for line in scan_lines(sim.port, options={"aim_prefix": True, "suffix": "crlf"}, max_scans=2):
            lines.append(line)
            if line == {"event": "health", "state": "connected", "error": None}:
                sim.scan("5901234123457", symbology="]E0", suffix="crlf")
                sim.scan("5901234123458", symbology="]E0", suffix="crlf")
    finally:
        sim.stop()
    scans = [line for line in lines if line["event"] == "scan"]
    assert [(s["symbology"], s["text"], s.get("gtin"), s.get("error")) for s in scans] == [
        ("]E0", "5901234123457", "05901234123457", None), ("]E0", "5901234123458", None, "bad_check_digit")]
    assert all(s["at"].endswith("+00:00") for s in scans)


def test_scan_from_a_camera_file(tmp_path: Path) -> None:
    frames = pass_by(background(640, 480, 2), ean13_symbol("5901234123457", 4), 4, Placement(module_px=2.5))
    video = write_avi(tmp_path / "camera.avi", frames)
    scans = [line for line in scan_lines(str(video), max_scans=1) if line["event"] == "scan"]
    assert [(s["symbology"], s["gtin"]) for s in scans] == [("]E0", "05901234123457")]


def test_scan_refuses_bad_options() -> None:
    with pytest.raises(ConfigError, match="serial-scanner: suffix"):
        next(scan_lines("loop://", options={"suffix": "space"}))


@pytest.mark.parametrize(("url", "driver"), [
    ("/dev/input/by-id/usb-Honeywell-event-kbd", "hid-scanner"), ("0", "camera"), ("/dev/video2", "camera"),
    ("/dev/v4l/by-id/usb-cam-video-index0", "camera"), ("/tmp/clip.avi", "camera"),
    ("/tmp/frames_%03d.png", "camera"), ("rtsp://10.0.0.5/stream", "camera"), ("/dev/ttyACM0", "serial-scanner"),
    ("spy:///dev/ttyUSB0", "serial-scanner"), ("socket://127.0.0.1:7000", "serial-scanner"),
])
def test_guess_driver(url: str, driver: str) -> None:
    assert guess_driver(url) == driver


def test_option_arguments_are_typed() -> None:
    assert parse_option_args(["aim_prefix=true", "suffix=crlf", "baudrate=115200", "roi=0.5", "gs_substitute=~"]) == {
        "aim_prefix": True, "suffix": "crlf", "baudrate": 115200, "roi": 0.5, "gs_substitute": "~"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_option_args(["aim_prefix"])
