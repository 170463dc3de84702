"""EmrtdReader through the real PC/SC stack: pyscard -> pcscd -> vpcd -> the virtual passport.

The session's private pcscd has two vpcd readers; the passport reader is slot 0.  Insertion and
removal take one pcscd presence poll (about 0.4 s) each.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from drivers.base import CardFailed, CardRead, CardRemoved, CardType
from drivers.cardreader.emrtd import EmrtdReader
from drivers.cardreader.mrz import MrzError
from drivers.errors import DeviceGone, OptionError
from drivers.registry import check_device, create_device
from drivers.sim.passport_card import PassportCard
from drivers.sim.pcscd import PrivatePcscd
from tests.pcsc_support import APPENDIX_D_MRZ, PASSPORT_SLOT, PASSPORT_URL, Slots, next_reading, scripted

h = bytes.fromhex
OTHER_MRZ = "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10"
KAZ = "IDKAZN123456785900101300018<<<\n9001011M3001019KAZ<<<<<<<<<<<9\nTESTOV<<TEST<<<<<<<<<<<<<<<<<<"


@pytest.fixture
def reader(slots: Slots) -> Iterator[EmrtdReader]:
    """An opened production reader on the passport slot (empty)."""
    r = EmrtdReader("passport", PASSPORT_URL, today=lambda: date(2026, 11, 25))
    r.open()
    yield r
    r.close()


def test_reads_a_passport_with_the_appendix_d_exchange_on_the_wire(reader: EmrtdReader, slots: Slots) -> None:
    """GIVEN the MRZ typed WHEN the passport is placed THEN one CardRead, and the chip saw App. D's APDUs."""
    card = PassportCard(APPENDIX_D_MRZ, random=scripted("4608F91988702212", "0B4F80323EB3191CB04970CB4052790B"))
    reader = EmrtdReader("passport", PASSPORT_URL, today=lambda: date(2026, 11, 25),
                         random=scripted("781723860C06C226", "0B795240CB7049B01C19B33E32804F0B"))
    reader.open()
    try:
        reader.set_mrz(APPENDIX_D_MRZ)
        slots.insert(card, PASSPORT_SLOT)
        got = next_reading(reader)
    finally:
        reader.close()
    assert isinstance(got, CardRead)
    assert (got.card.card_type, got.card.document_number, got.card.birth_date) == (
        CardType.PASSPORT, "L898902C", date(1969, 8, 6))
    assert card.log[:6] == [
        h("00A4040C07A0000002471001"), h("0084000008"),
        h("0082000028" "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2" "5F1448EEA8AD90A7" "28"),
        h("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800"),
        h("0CB000000D9701048E08ED6705417E96BA5500"),
        h("0CB000040D9701128E082EA28A70F3C7B53500"),
    ]


def test_one_presentation_one_read_then_removed_then_read_again(reader: EmrtdReader, slots: Slots) -> None:
    """A card lying on the reader is read once; CardRemoved when it leaves; a new placement reads again."""
    reader.set_mrz(KAZ)
    client = slots.insert(PassportCard(KAZ), PASSPORT_SLOT)
    first = next_reading(reader)
    assert isinstance(first, CardRead) and first.card.card_type is CardType.FOREIGN_ID
    assert [reader.read(0.2) for _ in range(3)] == [None, None, None]
    client.remove()
    assert next_reading(reader) == CardRemoved()
    client.insert()
    assert isinstance(next_reading(reader), CardRead)


def test_wrong_mrz_is_access_denied_and_a_corrected_mrz_reads_the_card(reader: EmrtdReader, slots: Slots) -> None:
    """GIVEN a typo in the MRZ THEN access_denied; WHEN the officer corrects it, the card still there is read."""
    reader.set_mrz(OTHER_MRZ)
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    denied = next_reading(reader)
    assert isinstance(denied, CardFailed) and denied.reason == "access_denied"
    assert "6300" in denied.detail
    assert reader.read(0.3) is None                    # no retry with the same wrong MRZ
    reader.set_mrz(APPENDIX_D_MRZ)
    assert isinstance(next_reading(reader), CardRead)


def test_no_mrz_yet_then_the_mrz_arrives(reader: EmrtdReader, slots: Slots) -> None:
    """A card placed before the MRZ: mrz_required, then read as soon as the MRZ is handed over."""
    card = PassportCard(APPENDIX_D_MRZ)
    slots.insert(card, PASSPORT_SLOT)
    waiting = next_reading(reader)
    assert waiting == CardFailed("mrz_required", "no MRZ to open the chip with")
    assert card.log == []                              # the chip was not touched without keys
    reader.set_mrz(APPENDIX_D_MRZ)
    assert isinstance(reader.read(0.2), CardRead)


def test_dg1_differs_from_the_mrz_used(reader: EmrtdReader, slots: Slots) -> None:
    """A chip whose DG1 is another person's than the printed MRZ: document_mismatch."""
    reader.set_mrz(APPENDIX_D_MRZ)
    slots.insert(PassportCard(APPENDIX_D_MRZ, dg1_mrz=APPENDIX_D_MRZ.replace("ANNA<MARIA", "ANNA<MARIE")),
                 PASSPORT_SLOT)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "document_mismatch"


def test_a_broken_protected_response_is_card_unreadable(reader: EmrtdReader, slots: Slots) -> None:
    """A wrong MAC on the wire (one bit) fails the read with card_unreadable, naming the SM error."""
    card = PassportCard(APPENDIX_D_MRZ)
    card.corrupt_next_mac = True
    reader.set_mrz(APPENDIX_D_MRZ)
    slots.insert(card, PASSPORT_SLOT)
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_unreadable"
    assert "SecureMessagingError" in got.detail


def test_set_mrz_refuses_a_bad_mrz(reader: EmrtdReader) -> None:
    """A mistyped check digit is refused when typed, before any card."""
    with pytest.raises(MrzError) as err:
        reader.set_mrz(APPENDIX_D_MRZ[:-1] + "5")
    assert err.value.reason == "mrz_check_digit"


def test_waiting_uses_status_changes_not_polling(reader: EmrtdReader) -> None:
    """With no card, read(timeout) blocks in SCardGetStatusChange for about the timeout."""
    start = time.monotonic()
    assert reader.read(0.3) is None
    assert 0.25 < time.monotonic() - start < 0.6


def test_url_and_reader_errors() -> None:
    """A URL without pcsc: is an OptionError at once; a reader name nobody has is DeviceGone on open."""
    with pytest.raises(OptionError, match="pcsc:"):
        EmrtdReader("passport", "/dev/ttyUSB0")
    missing = EmrtdReader("passport", "pcsc:No Such Reader")
    with pytest.raises(DeviceGone, match="no PC/SC reader matching 'No Such Reader'"):
        missing.open()
    missing.close()


def test_registry_builds_it_and_checks_its_options(slots: Slots) -> None:
    """Driver name emrtd (kind idcard) with its option table."""
    assert check_device("idcard", "emrtd", {"chunk_size": 64}) == []
    assert check_device("idcard", "emrtd", {"mrz_source": "camera"}) == [
        "mrz_source: 'camera' is not one of 'officer'"]
    device = create_device("passport", "emrtd", PASSPORT_URL, {"chunk_size": 16})
    assert isinstance(device, EmrtdReader) and device.chunk_size == 16


def test_pcscd_stopping_is_device_gone_and_its_return_is_found(pcscd: PrivatePcscd, reader: EmrtdReader,
                                                              slots: Slots) -> None:
    """Reader gone (pcscd stopped) -> DeviceGone; open fails while away; back -> the card is read."""
    reader.set_mrz(APPENDIX_D_MRZ)
    slots.insert(PassportCard(APPENDIX_D_MRZ), PASSPORT_SLOT)
    assert isinstance(next_reading(reader), CardRead)
    pcscd.stop()
    try:
        with pytest.raises(DeviceGone, match="Service not available"):
            reader.read(0.2)
        reader.close()
        with pytest.raises(DeviceGone):
            reader.open()
    finally:
        pcscd.start()
    reader.open()
    assert isinstance(next_reading(reader), CardRead)   # the card stayed on the reader


def test_passport_lifted_mid_read(reader: EmrtdReader, slots: Slots) -> None:
    """GIVEN the chip leaves the field before answering READ BINARY of DG1 THEN card_removed_early,
    then CardRemoved; placed again THEN it is read."""
    reader.set_mrz(APPENDIX_D_MRZ)
    card = PassportCard(APPENDIX_D_MRZ)
    client = slots.insert(card, PASSPORT_SLOT)
    client.pull_before(8)        # 1 select AID, 2 challenge, 3 auth, 4-6 EF.COM, 7 select DG1, 8 read DG1
    got = next_reading(reader)
    assert isinstance(got, CardFailed) and got.reason == "card_removed_early", got
    assert len(card.log) == 7
    assert next_reading(reader) == CardRemoved()
    client.insert()
    assert isinstance(next_reading(reader), CardRead)
