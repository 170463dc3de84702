"""The eMRTD reading protocol against the virtual passport in-process (no pcscd): every path, fast.

The same ``read_document`` runs through the real pcscd in test_emrtd_pcsc.py; here ``transmit`` is
the card's own ``apdu`` method, so each fault is exercised in microseconds.
"""

from __future__ import annotations

from datetime import date

import pytest

from drivers.base import CardType
from drivers.cardreader.apdu import AccessDenied, CardStatusError
from drivers.cardreader.emrtd_protocol import (
    DocumentMismatch,
    document_card,
    parse_dg1,
    parse_ef_com,
    read_document,
)
from drivers.cardreader.icao_crypto import SecureMessagingError
from drivers.cardreader.mrz import parse_mrz
from drivers.errors import ProtocolError
from drivers.sim.passport_card import PassportCard, dg1, ef_com
from tests.pcsc_support import APPENDIX_D_MRZ, scripted

h = bytes.fromhex
TD1 = "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<"
KAZ = "IDKAZN123456785900101300018<<<\n9001011M3001019KAZ<<<<<<<<<<<9\nTESTOV<<TEST<<<<<<<<<<<<<<<<<<"
TODAY = date(2026, 11, 25)


def test_reads_the_appendix_d_chip_with_the_appendix_d_bytes() -> None:
    """With the appendix's nonces on both sides, the exchange is ICAO 9303-11 App. D on the wire."""
    card = PassportCard(APPENDIX_D_MRZ, random=scripted("4608F91988702212", "0B4F80323EB3191CB04970CB4052790B"))
    mrz = parse_mrz(APPENDIX_D_MRZ)
    doc = read_document(card.apdu, mrz, random=scripted("781723860C06C226", "0B795240CB7049B01C19B33E32804F0B"))
    assert doc.mrz.lines == mrz.lines
    assert (doc.lds_version, doc.data_groups) == ("0106", (0x61, 0x75))
    assert card.log[:6] == [
        h("00A4040C07A0000002471001"),
        h("0084000008"),
        h("0082000028" "72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2" "5F1448EEA8AD90A7" "28"),
        h("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800"),
        h("0CB000000D9701048E08ED6705417E96BA5500"),
        h("0CB000040D9701128E082EA28A70F3C7B53500"),
    ]
    assert len(card.log) == 9      # then SELECT DG1, READ its header, READ the rest


@pytest.mark.parametrize("chunk", [1, 7, 16, 0xDF])
@pytest.mark.parametrize("text", [APPENDIX_D_MRZ, TD1, KAZ])
def test_any_chunk_size_reads_the_whole_file(text: str, chunk: int) -> None:
    """TD1 (90-char) and TD3 DG1s read in pieces from 1 byte to 223 bytes give the same MRZ."""
    card = PassportCard(text)
    doc = read_document(card.apdu, parse_mrz(text), chunk=chunk)
    assert doc.mrz.text == parse_mrz(text).text


def test_wrong_mrz_is_access_denied() -> None:
    """Keys from another MRZ: the chip answers 6300 to MUTUAL AUTHENTICATE."""
    card = PassportCard(APPENDIX_D_MRZ)
    other = parse_mrz("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10")
    with pytest.raises(AccessDenied) as err:
        read_document(card.apdu, other)
    assert (err.value.reason, err.value.sw) == ("verification_failed", 0x6300)
    assert card.log[-1][:2] == h("0082")


def test_dg1_that_differs_from_the_access_mrz_is_a_mismatch() -> None:
    """A chip opened with the printed MRZ whose DG1 holds another person: DocumentMismatch."""
    other = APPENDIX_D_MRZ.replace("ERIKSSON<<ANNA", "ERIKSSON<<ANNE")
    card = PassportCard(APPENDIX_D_MRZ, dg1_mrz=other)
    with pytest.raises(DocumentMismatch) as err:
        read_document(card.apdu, parse_mrz(APPENDIX_D_MRZ))
    assert err.value.reason == "document_mismatch"


def test_a_corrupted_response_mac_is_a_named_error() -> None:
    """One flipped MAC bit in a protected response: SecureMessagingError sm_mac."""
    card = PassportCard(APPENDIX_D_MRZ)
    card.corrupt_next_mac = True
    with pytest.raises(SecureMessagingError) as err:
        read_document(card.apdu, parse_mrz(APPENDIX_D_MRZ))
    assert err.value.reason == "sm_mac"


def test_ef_com_without_dg1_is_refused() -> None:
    """A chip whose EF.COM does not list DG1 is not an LDS1 travel document we can read."""
    card = PassportCard(APPENDIX_D_MRZ, groups=b"\x75")
    with pytest.raises(ProtocolError, match="does not list DG1"):
        read_document(card.apdu, parse_mrz(APPENDIX_D_MRZ))


def test_virtual_chip_refuses_files_before_bac_and_aborts_sm_on_a_plain_command() -> None:
    """LDS files need BAC (6982); a plain APDU inside the session ends it (9303-11 §9.8.6)."""
    card = PassportCard(APPENDIX_D_MRZ)
    assert card.apdu(h("00A4020C02011E")) == h("6982")
    read_document(card.apdu, parse_mrz(APPENDIX_D_MRZ))
    assert card.apdu(h("00B0000004")) == h("6982")          # plain READ BINARY: refused, session gone
    assert card.apdu(h("0CB000000D9701048E08ED6705417E96BA5500")) == h("6982")
    with pytest.raises(CardStatusError) as err:               # GET CHALLENGE needs the application
        card.reset()
        read_document(lambda apdu: card.apdu(apdu) if apdu[1] != 0xA4 else h("6A82"), parse_mrz(APPENDIX_D_MRZ))
    assert err.value.reason == "file_not_found"


def test_ef_com_and_dg1_encodings() -> None:
    """The virtual chip's EF.COM is the appendix's; DG1 wraps the MRZ in 61 { 5F1F }."""
    assert ef_com() == h("60145F0104303130365F36063034303030305C026175")
    assert parse_ef_com(ef_com()) == ("0106", (0x61, 0x75))
    assert dg1(TD1)[:5] == h("615D5F1F5A")
    assert parse_dg1(dg1(TD1)).text == TD1


@pytest.mark.parametrize(("raw", "words"), [
    (h("6103020100"), "DG1"), (h("6104") + h("5F1F0141"), "DG1"),
    (dg1(TD1).replace(b"ERIKSSON", b"eriksson"), "ICAO characters"),
    (dg1(TD1).replace(b"ERIKSSON", b"ERIKS ON"), "ICAO characters"),
])
def test_unusable_dg1_is_a_protocol_error(raw: bytes, words: str) -> None:
    """DG1 that is not 61 { 5F1F <MRZ> } with ICAO characters is refused, never half-parsed."""
    with pytest.raises(ProtocolError, match=words):
        parse_dg1(raw)


def test_document_card_fields() -> None:
    """A passport's IdCard: type, name, GB/T 2261.1 gender, dates with centuries, document fields."""
    card = document_card(parse_mrz(APPENDIX_D_MRZ), TODAY)
    assert card.card_type is CardType.PASSPORT
    assert (card.name, card.gender, card.nation, card.address) == ("ERIKSSON, ANNA MARIA", "2", "", "")
    assert (card.birth_date, card.valid_to, card.expiry_date) == (date(1969, 8, 6), date(1994, 6, 23),
                                                                  date(1994, 6, 23))
    assert (card.document_number, card.id_number, card.nationality, card.authority) == ("L898902C", "L898902C",
                                                                                         "UTO", "UTO")
    assert card.valid_from == date.min and card.mrz == APPENDIX_D_MRZ
    kaz = document_card(parse_mrz(KAZ), TODAY)
    assert (kaz.card_type, kaz.gender, kaz.birth_date, kaz.expiry_date) == (CardType.FOREIGN_ID, "1",
                                                                            date(1990, 1, 1), date(2030, 1, 1))
