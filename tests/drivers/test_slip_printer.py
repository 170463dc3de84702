"""The slip printer: byte-exact ESC/POS output, the printer against its pty simulator, faults as health."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from escpos.constants import QR_ECLEVEL_M
from escpos.printer import Dummy

from drivers.base import Reading
from drivers.errors import DeviceGone, DeviceTimeout, OptionError, PrinterFault
from drivers.printer.document import (
    Columns,
    Feed,
    QrCode,
    Rule,
    SlipDocument,
    SlipPrinted,
    Text,
    display_width,
    row,
    wrap,
)
from drivers.printer.escpos import SlipPrinter, paper_state
from drivers.printer.render import SlipRenderer, printable_as_text
from drivers.registry import create_device
from drivers.runner import DeviceRunner, Health, HealthState
from drivers.sim.printer import EscposPrinterSimulator
from kiosk.clock import SystemClock
from kiosk.printing import SlipPrinting, SlipResult
from tests.drivers.waiting import wait_for

INIT_CHINESE = bytes.fromhex("1B 40 1C 26")
CUT = bytes.fromhex("1B 64 06 1D 56 00")
QR_DF_G123 = bytes.fromhex(
    "1D 28 6B 04 00 31 41 32 00"        # select model 2
    "1D 28 6B 03 00 31 43 06"           # module size 6
    "1D 28 6B 03 00 31 45 31"           # error correction M
    "1D 28 6B 0A 00 31 50 30") + b"DF|G123" + bytes.fromhex(
    "1D 28 6B 03 00 31 51 30")          # print
CENTER, LEFT = bytes.fromhex("1B 61 01"), bytes.fromhex("1B 61 00")
PLAIN = bytes.fromhex("1B 21 00 1B 21 00 1B 21 00 1B 45 00")


# -- rendering, byte-exact ------------------------------------------------------------------

def test_qr_bytes_match_protocols_and_escpos_dummy() -> None:
    """GIVEN a QR block THEN the bytes are PROTOCOLS.md §5's sequence, as escpos's Dummy makes them, centred."""
    dummy = Dummy()
    dummy.qr("DF|G123", native=True, size=6, ec=QR_ECLEVEL_M)
    assert dummy.output == QR_DF_G123
    out = SlipRenderer().render(SlipDocument((QrCode("DF|G123"),)))
    assert out == INIT_CHINESE + CENTER + QR_DF_G123 + LEFT + CUT


def test_text_rule_columns_feed_bytes() -> None:
    """ASCII and Chinese go out as GB18030 text; rows are padded to 32 columns; no code-page switches."""
    document = SlipDocument((Text("合计"), Rule("="), Columns("Total", "12.00"), Feed(2)), cut=False)
    out = SlipRenderer().render(document)
    assert out == (INIT_CHINESE + PLAIN + LEFT + "合计\n".encode("gb18030")
                   + b"=" * 32 + b"\n" + b"Total" + b" " * 22 + b"12.00\n" + b"\n\n")
    assert "合计".encode("gb18030") == bytes.fromhex("BA CF BC C6")
    assert b"\x1bt" not in out


def test_large_centred_title_then_back_to_normal() -> None:
    """A large title sets double size, bold and centre, then restores the defaults."""
    out = SlipRenderer(chinese_mode=False).render(SlipDocument((Text("申报单", align="center", bold=True,
                                                                     large=True),), cut=False))
    assert out == (bytes.fromhex("1B 40") + bytes.fromhex("1B 21 00 1B 21 00 1B 21 30 1B 45 01") + CENTER
                   + "申报单\n".encode("gb18030") + PLAIN + LEFT)


@pytest.mark.parametrize(("text", "printable"), [
    ("Total 12.00", True), ("边民互市 合计：", True), ("（北京时间）", True),
    ("Итого", False), ("Қазақстан", False), ("رەھمەت", False), ("café", False), ("€", False),
])
def test_which_text_the_printer_can_print(text: str, printable: bool) -> None:
    """ASCII and GB2312 from U+3000 up print as text; Cyrillic, Arabic script and Latin-1 do not."""
    assert printable_as_text(text) is printable


@pytest.mark.parametrize("text", ["Итого: 1 234,00", "رەھمەت سىزگە", "Рақмет"])
def test_unprintable_scripts_become_a_raster_image(text: str) -> None:
    """Russian, Uyghur and Kazakh lines are sent as one GS v 0 image of the paper width, never as text."""
    renderer = SlipRenderer()
    out = renderer.render(SlipDocument((Text(text),), cut=False))
    image = out[len(INIT_CHINESE + PLAIN + LEFT):]
    assert image[:4] == bytes.fromhex("1D 76 30 00")
    width_bytes, height = int.from_bytes(image[4:6], "little"), int.from_bytes(image[6:8], "little")
    assert width_bytes == 384 // 8 and len(image) == 8 + width_bytes * height
    assert any(image[8:]), "something was drawn"
    assert renderer.image_lines == 1
    assert text.encode("utf-8") not in out and "Итого".encode("cp866") not in out


def test_right_to_left_line_is_drawn_on_the_right() -> None:
    """Uyghur is drawn flush right; Latin flush left."""
    renderer = SlipRenderer()
    for text, side in (("رەھمەت", "right"), ("Rahmet", "left")):
        image = renderer.text_image(text)
        box = image.point(lambda v: 255 - v).getbbox()
        assert box is not None
        assert (box[2] > 384 - 8) if side == "right" else (box[0] < 8)


def test_widths_rows_and_wrapping() -> None:
    """CJK takes two columns; rows pad or shorten the left side; long text wraps at spaces."""
    assert display_width("合计 Total") == 10
    assert row("合计", "1.00", 10) == "合计  1.00"
    assert row("地毯 Carpet large", "8,000.00", 16) == "地毯 Ca 8,000.00"
    assert wrap("aaa bbb ccc", 7) == ["aaa bbb", "ccc"]
    assert wrap("申报单申报单", 6) == ["申报单", "申报单"]


# -- the printer against its simulator ---------------------------------------------------------

@pytest.fixture
def sim() -> Iterator[EscposPrinterSimulator]:
    """A serial ESC/POS printer on a fresh pty."""
    simulator = EscposPrinterSimulator()
    simulator.start()
    yield simulator
    simulator.stop()


SLIP = SlipDocument((Text("合计"), QrCode("DF|G123")))


def test_prints_after_checking_the_paper(sim: EscposPrinterSimulator) -> None:
    """GIVEN paper THEN DLE EOT 4 goes first, then exactly the rendered slip."""
    printer = SlipPrinter("printer", sim.port)
    printer.open()
    try:
        assert printer.print_document(SLIP) == SlipPrinted(len(SlipRenderer().render(SLIP)))
        wait_for(lambda: sim.slips == 1)
        assert bytes(sim.received).startswith(bytes.fromhex("10 04 04") + INIT_CHINESE)
        assert bytes(sim.printed) == SlipRenderer().render(SLIP)
        assert printer.paper == "ok"
    finally:
        printer.close()


def test_out_of_paper_refuses_and_reports(sim: EscposPrinterSimulator) -> None:
    """GIVEN no paper THEN print_document raises PrinterFault before sending the slip, and read reports it."""
    sim.paper("out")
    printer = SlipPrinter("printer", sim.port)
    printer.open()
    try:
        with pytest.raises(PrinterFault, match="out of paper"):
            printer.print_document(SLIP)
        with pytest.raises(PrinterFault):
            printer.read(0.0)
        assert sim.discarded == 0 and sim.slips == 0
        sim.paper("near_end")
        assert printer.check_paper() == "near_end"
    finally:
        printer.close()


def test_silent_printer_and_unplug(sim: EscposPrinterSimulator) -> None:
    """A printer that never answers status is DeviceTimeout; a pulled cable is DeviceGone."""
    sim.silent = True
    printer = SlipPrinter("printer", sim.port, status_timeout_s=0.05)
    printer.open()
    with pytest.raises(DeviceTimeout, match="did not answer"):
        printer.print_document(SLIP)
    sim.unplug()
    with pytest.raises(DeviceGone):
        printer.print_document(SLIP)
    printer.close()


@pytest.mark.parametrize(("status", "state"), [(0x12, "ok"), (0x1E, "near_end"), (0x72, "out"), (0x7E, "out")])
def test_paper_status_bits(status: int, state: str) -> None:
    """DLE EOT 4 bits: 0x0C near end, 0x60 paper end; a byte without the fixed bits is refused."""
    assert paper_state(status) == state
    with pytest.raises(ValueError):
        paper_state(0xFF)


def test_capture_and_file_printers(tmp_path: Path) -> None:
    """capture:// keeps jobs in memory; file:// appends to a file (as to /dev/usb/lp0)."""
    capture = create_device("printer", "escpos", "capture://", {})
    assert isinstance(capture, SlipPrinter)
    capture.open()
    capture.print_document(SLIP)
    assert capture.read(0.0) is None
    assert capture.captured == [SlipRenderer().render(SLIP)]
    path = tmp_path / "slips.bin"
    printer = SlipPrinter("printer", f"file://{path}")
    printer.open()
    printer.print_document(SLIP)
    printer.print_document(SLIP)
    printer.close()
    assert path.read_bytes() == SlipRenderer().render(SLIP) * 2
    with pytest.raises(OptionError, match="absolute path"):
        SlipPrinter("printer", "file://relative").open()
    with pytest.raises(DeviceGone):
        SlipPrinter("printer", "file:///dev/usb/lp-none").open()


# -- a faulty printer never reaches the caller's thread ---------------------------------------------

class HealthLog:
    """Collects health reports from the runner thread."""

    def __init__(self) -> None:
        self.items: list[Health] = []

    def __call__(self, health: Health) -> None:
        self.items.append(health)

    def last(self) -> HealthState | None:
        """The latest state, if any."""
        return self.items[-1].state if self.items else None


def test_printer_runner_faults_are_health_not_exceptions(sim: EscposPrinterSimulator) -> None:
    """GIVEN a printer out of paper, then unplugged THEN print_slip returns at once and done gets the error."""
    health = HealthLog()

    def on_reading(role: str, reading: Reading, at: datetime) -> None:
        raise AssertionError("a printer has no readings")

    runner = DeviceRunner(SlipPrinter("printer", sim.port, status_timeout_s=0.1), on_reading=on_reading,
                          on_health=health, clock=SystemClock(), poll_s=0.05)
    printing = SlipPrinting(runner)
    results: queue.Queue[tuple[SlipResult, str]] = queue.Queue()

    def done(result: SlipResult) -> None:
        results.put((result, threading.current_thread().name))

    runner.start()
    try:
        wait_for(lambda: health.last() is HealthState.CONNECTED)
        printing.print_slip("D1", SLIP, done)
        result, thread = results.get(timeout=3)
        assert result.printed and result.bytes_sent > 0 and thread == "device-printer"
        sim.paper("out")
        started = time.monotonic()
        printing.print_slip("D2", SLIP, done)
        assert time.monotonic() - started < 0.05
        result, _ = results.get(timeout=3)
        assert result == SlipResult("D2", "PrinterFault: printer is out of paper")
        sim.unplug()
        wait_for(lambda: health.last() is HealthState.DISCONNECTED)
        printing.print_slip("D3", SLIP, done)
        result, thread = results.get_nowait()
        assert result.error is not None and result.error.startswith("DeviceGone")
        assert thread == threading.current_thread().name
        assert not printing.usable()
    finally:
        runner.stop()
    no_printer: list[SlipResult] = []
    SlipPrinting(None).print_slip("D4", SLIP, no_printer.append)
    assert no_printer == [SlipResult("D4", "no printer configured")]
