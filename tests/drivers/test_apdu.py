"""APDU build/parse, status words to named errors, BER-TLV (ISO 7816-4), table-tested."""

from __future__ import annotations

import pytest

from drivers.cardreader.apdu import (
    AccessDenied,
    ApduFormatError,
    CardStatusError,
    CommandApdu,
    ResponseApdu,
    TlvError,
    check,
    encode_length,
    encode_tlv,
    find_tlv,
    parse_command,
    parse_response,
    parse_tlvs,
    read_header,
    read_tlv,
    status_error,
)
from drivers.errors import DriverError, ProtocolError

h = bytes.fromhex


@pytest.mark.parametrize(("apdu", "raw"), [
    (CommandApdu(0x00, 0x84, 0x00, 0x00, le=8), "0084000008"),                       # case 2: GET CHALLENGE
    (CommandApdu(0x00, 0xA4, 0x04, 0x0C, h("A0000002471001")), "00A4040C07A0000002471001"),  # case 3
    (CommandApdu(0x00, 0x82, 0x00, 0x00, bytes(40), le=40), "0082000028" + "00" * 40 + "28"),  # case 4
    (CommandApdu(0xFF, 0xCA, 0x00, 0x00, le=256), "FFCA000000"),                     # Le 256 is sent as 00
    (CommandApdu(0x00, 0xB0, 0x01, 0x02), "00B00102"),                               # case 1
])
def test_commands_encode_and_parse_back(apdu: CommandApdu, raw: str) -> None:
    """The exact bytes of each ISO case, and parsing them gives the same command."""
    assert bytes(apdu) == h(raw)
    assert parse_command(h(raw)) == apdu


@pytest.mark.parametrize(("raw", "words"), [
    ("", "no complete header"), ("00A404", "no complete header"),
    ("00A4040C0500", "does not match"), ("00A4040C02A0", "does not match"),
    ("00A4040C00A000", "extended-length"),
])
def test_malformed_commands_are_named(raw: str, words: str) -> None:
    """Lengths that do not add up raise ApduFormatError (a ProtocolError) with reason apdu_format."""
    with pytest.raises(ApduFormatError) as err:
        parse_command(h(raw))
    assert err.value.reason == "apdu_format" and isinstance(err.value, ProtocolError)
    assert words in str(err.value)


def test_command_fields_out_of_range_are_refused() -> None:
    """A short APDU cannot carry more than 255 data bytes or an Le above 256."""
    with pytest.raises(ValueError):
        bytes(CommandApdu(0, 0xB0, 0, 0, bytes(256)))
    with pytest.raises(ValueError):
        bytes(CommandApdu(0, 0xB0, 0, 0, le=257))
    with pytest.raises(ValueError):
        bytes(CommandApdu(0x100, 0xB0, 0, 0))


def test_response_split_and_status() -> None:
    """Data, then SW1 SW2; the short forms round-trip."""
    resp = parse_response(h("0411223344556690 00".replace(" ", "")))
    assert (resp.data, resp.sw, resp.sw1, resp.sw2) == (h("04112233445566"), 0x9000, 0x90, 0x00)
    assert bytes(resp) == h("041122334455669000")
    assert parse_response(h("6A82")) == ResponseApdu(b"", 0x6A82)
    with pytest.raises(ApduFormatError):
        parse_response(h("90"))


@pytest.mark.parametrize(("sw", "reason", "cls"), [
    (0x6A82, "file_not_found", CardStatusError),
    (0x6982, "security_status", AccessDenied),
    (0x6300, "verification_failed", AccessDenied),
    (0x63C2, "verification_failed", AccessDenied),
    (0x6988, "sm_objects_incorrect", CardStatusError),
    (0x6B00, "wrong_offset", CardStatusError),
    (0x6D00, "ins_not_supported", CardStatusError),
    (0x6A81, "function_not_supported", CardStatusError),
    (0x6F00, "no_diagnosis", CardStatusError),
    (0x6789, "unknown_status", CardStatusError),
])
def test_status_words_map_to_named_errors(sw: int, reason: str, cls: type[CardStatusError]) -> None:
    """Each SW gets a stable reason key and keeps SW1SW2 in ``code``; access refusals are AccessDenied."""
    err = status_error(sw, "select")
    assert type(err) is cls and isinstance(err, DriverError)
    assert (err.reason, err.sw, err.code) == (reason, sw, sw)
    assert str(err).startswith(f"select: SW {sw:04X}")


def test_check_returns_data_only_on_9000() -> None:
    """``check`` is the one place an error status becomes an exception."""
    assert check(ResponseApdu(b"\x01", 0x9000), "x") == b"\x01"
    with pytest.raises(CardStatusError, match="get UID: SW 6A81"):
        check(ResponseApdu(b"", 0x6A81), "get UID")


# ---- BER-TLV ------------------------------------------------------------------------------

EF_COM = h("60145F0104303130365F36063034303030305C026175")      # ICAO 9303-11 App. D.4


def test_ef_com_of_appendix_d() -> None:
    """Nested objects with two-byte tags: LDS version 0106, Unicode 040000, DG1 and DG2."""
    body = find_tlv(EF_COM, 0x60)
    assert [t.tag for t in parse_tlvs(body)] == [0x5F01, 0x5F36, 0x5C]
    assert find_tlv(body, 0x5F01) == b"0106"
    assert find_tlv(body, 0x5C) == h("6175")


@pytest.mark.parametrize(("length", "encoded"), [
    (0, "00"), (0x7F, "7F"), (0x80, "8180"), (0xFF, "81FF"), (0x100, "820100"), (0x10000, "83010000"),
])
def test_ber_lengths(length: int, encoded: str) -> None:
    """Short form below 128, then 81/82/83; the header reader agrees."""
    assert encode_length(length) == h(encoded)
    tag, head, size = read_header(h("04") + h(encoded))
    assert (tag, head, size) == (0x04, 1 + len(h(encoded)), length)


def test_tlv_round_trip_with_a_long_value() -> None:
    """A 300-byte value under a two-byte tag."""
    raw = encode_tlv(0x5F1F, bytes(300))
    assert raw[:5] == h("5F1F82012C")
    tlv = read_tlv(raw)
    assert (tlv.tag, len(tlv.value), tlv.size) == (0x5F1F, 300, len(raw))


@pytest.mark.parametrize(("raw", "words"), [
    ("", "end of data"), ("5F", "runs past"), ("5F1F", "has no length"), ("6105", "announced"),
    ("61845F", "not supported"), ("6182FF", "not supported or truncated"), ("5F9F9F9F01", "longer than 4"),
])
def test_malformed_tlv_is_named(raw: str, words: str) -> None:
    """Truncated tags, lengths and values raise TlvError (reason tlv_format)."""
    with pytest.raises(TlvError) as err:
        parse_tlvs(h(raw)) if raw else read_tlv(b"")
    assert err.value.reason == "tlv_format" and words in str(err.value)


def test_find_tlv_names_the_missing_tag() -> None:
    """Looking for an object that is not there is a named error, not a None."""
    with pytest.raises(TlvError, match="5F1F not found"):
        find_tlv(h("5F0100"), 0x5F1F)
