"""BAC and secure messaging reproduce the ICAO 9303-11 Appendix D worked example byte for byte.

D.2-D.3 (keys, mutual authentication) and D.4 (secure messaging: SELECT EF.COM, READ BINARY of
its first 4 bytes and of the remaining 18).  PROTOCOLS.md §2.3 lists the key, session and first
SM values; the D.3 cryptograms (E_IFD, M_IFD, E_IC, M_IC) and the second READ BINARY are the
same appendix's, and every one is recomputed here by the production code on both sides.
"""

from __future__ import annotations

import pytest

from drivers.cardreader.apdu import CommandApdu, ResponseApdu
from drivers.cardreader.bac import (
    BacError,
    BacKeys,
    SessionKeys,
    authenticate,
    card_answer,
    document_keys,
    key_seed,
    mutual_auth_data,
    open_card_answer,
    session_keys,
)
from drivers.cardreader.icao_crypto import (
    SecureMessagingError,
    adjust_parity,
    kdf,
    pad,
    retail_mac,
    tdes_decrypt,
    tdes_encrypt,
    unpad,
)
from drivers.cardreader.secure_messaging import CardSecureChannel, SecureChannel

h = bytes.fromhex

MRZ_INFORMATION = "L898902C<369080619406236"
K_SEED = h("239AB9CB282DAF66231DC5A4DF6BFBAE")
K_ENC = h("AB94FDECF2674FDFB9B391F85D7F76F2")
K_MAC = h("7962D9ECE03D1ACD4C76089DCE131543")
RND_IC = h("4608F91988702212")
RND_IFD = h("781723860C06C226")
K_IFD = h("0B795240CB7049B01C19B33E32804F0B")
K_IC = h("0B4F80323EB3191CB04970CB4052790B")
S = RND_IFD + RND_IC + K_IFD
E_IFD = h("72C29C2371CC9BDB65B779B8E8D37B29ECC154AA56A8799FAE2F498F76ED92F2")
M_IFD = h("5F1448EEA8AD90A7")
E_IC = h("46B9342A41396CD7386BF5803104D7CEDC122B9132139BAF2EEDC94EE178534F")
M_IC = h("2F2D235D074D7449")
SESSION_SEED = h("0036D272F5C350ACAC50C3F572D23600")
KS_ENC = h("979EC13B1CBFE9DCD01AB0FED307EAE5")
KS_MAC = h("F1CB1F1FB5ADF208806B89DC579DC1F8")
SSC = 0x887022120C06C226

SELECT_EF_COM = h("0CA4020C158709016375432908C044F68E08BF8B92D635FF24F800")
SELECT_ANSWER = h("990290008E08FA855A5D4C50A8ED9000")
READ_4 = h("0CB000000D9701048E08ED6705417E96BA5500")
READ_4_ANSWER = h("8709019FF0EC34F9922651990290008E08AD55CC17140B2DED9000")
READ_18 = h("0CB000040D9701128E082EA28A70F3C7B53500")
READ_18_ANSWER = h("871901FB9235F4E4037F2327DCC8964F1F9B8C30F42C8E2FFF224A990290008E08C8B2787EAEA07D749000")
EF_COM_REST = h("04303130365F36063034303030305C026175")


def test_document_keys() -> None:
    """K_seed = SHA-1(MRZ information)[:16]; K_enc, K_mac with DES parity."""
    assert key_seed(MRZ_INFORMATION) == K_SEED
    keys = document_keys(MRZ_INFORMATION)
    assert (keys.k_enc, keys.k_mac) == (K_ENC, K_MAC)
    assert kdf(K_SEED, 1) == K_ENC and kdf(K_SEED, 2) == K_MAC


def test_des_parity() -> None:
    """Every key byte gets odd parity through its low bit; the high seven bits stay."""
    assert adjust_parity(h("00FF0102FE7F")) == h("01FE0102FE7F")
    raw = bytes(range(256))
    fixed = adjust_parity(raw)
    assert all(bin(b).count("1") % 2 == 1 for b in fixed)
    assert all(a >> 1 == b >> 1 for a, b in zip(raw, fixed, strict=True))


def test_terminal_cryptogram() -> None:
    """E_IFD = 3DES-CBC(K_enc, S); M_IFD = retail MAC(K_mac, E_IFD)."""
    assert tdes_encrypt(K_ENC, S) == E_IFD
    assert tdes_decrypt(K_ENC, E_IFD) == S
    assert retail_mac(K_MAC, E_IFD) == M_IFD
    assert mutual_auth_data(BacKeys(K_ENC, K_MAC), RND_IC, RND_IFD, K_IFD) == E_IFD + M_IFD


def test_card_side_answers_with_the_appendix_cryptogram() -> None:
    """The virtual card's side: checks E_IFD/M_IFD, answers E_IC || M_IC, same session keys."""
    answer = card_answer(BacKeys(K_ENC, K_MAC), E_IFD + M_IFD, RND_IC, K_IC)
    assert answer is not None
    response, keys = answer
    assert response == E_IC + M_IC
    assert (keys.ks_enc, keys.ks_mac, keys.ssc) == (KS_ENC, KS_MAC, SSC)


def test_terminal_verifies_the_card_and_derives_session_keys() -> None:
    """K_IC from the card's answer; session seed K_IFD xor K_IC; SSC from the nonces."""
    k_ic = open_card_answer(BacKeys(K_ENC, K_MAC), E_IC + M_IC, RND_IC, RND_IFD)
    assert k_ic == K_IC
    assert bytes(a ^ b for a, b in zip(K_IFD, K_IC, strict=True)) == SESSION_SEED
    keys = session_keys(K_IFD, K_IC, RND_IC, RND_IFD)
    assert (keys.ks_enc, keys.ks_mac, keys.ssc) == (KS_ENC, KS_MAC, SSC)
    assert kdf(SESSION_SEED, 1) == KS_ENC


def test_authenticate_sends_the_appendix_commands() -> None:
    """GET CHALLENGE then MUTUAL AUTHENTICATE 00 82 00 00 28 <E_IFD||M_IFD> 28, over a scripted card."""
    sent: list[bytes] = []
    answers = [RND_IC + h("9000"), E_IC + M_IC + h("9000")]

    def transmit(apdu: bytes) -> bytes:
        sent.append(apdu)
        return answers.pop(0)

    randoms = [RND_IFD, K_IFD]
    keys = authenticate(transmit, BacKeys(K_ENC, K_MAC), lambda n: randoms.pop(0))
    assert sent == [h("0084000008"), h("0082000028") + E_IFD + M_IFD + h("28")]
    assert keys.ssc == SSC


_NO_ECHO = tdes_encrypt(K_ENC, RND_IC + bytes(8) + K_IC)      # a valid MAC, but RND.IFD not echoed


@pytest.mark.parametrize("answer", [
    E_IC + M_IC[:-1] + bytes([M_IC[-1] ^ 1]),                     # MAC does not verify
    _NO_ECHO + retail_mac(K_MAC, _NO_ECHO),                       # nonce not echoed
    E_IC,                                                         # too short
])
def test_a_card_answer_that_does_not_verify_is_access_denied(answer: bytes) -> None:
    """The terminal refuses a forged or broken card answer (BacError is an AccessDenied)."""
    with pytest.raises(BacError) as err:
        open_card_answer(BacKeys(K_ENC, K_MAC), answer, RND_IC, RND_IFD)
    assert err.value.reason == "access_denied"


def test_card_refuses_a_terminal_with_the_wrong_keys() -> None:
    """A terminal whose MRZ is wrong computes another M_IFD: the card answers nothing."""
    wrong = document_keys("L898902C<369080619406237")
    assert card_answer(BacKeys(K_ENC, K_MAC), mutual_auth_data(wrong, RND_IC, RND_IFD, K_IFD), RND_IC, K_IC) is None


def test_secure_messaging_terminal_side() -> None:
    """D.4: protected SELECT EF.COM, two READ BINARY; responses verified and decrypted; SSC +2 each."""
    channel = SecureChannel(SessionKeys(KS_ENC, KS_MAC, SSC))
    assert channel.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, h("011E"))) == SELECT_EF_COM
    assert channel.unprotect(SELECT_ANSWER) == ResponseApdu(b"", 0x9000)
    assert channel.protect(CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4)) == READ_4
    assert channel.unprotect(READ_4_ANSWER) == ResponseApdu(h("60145F01"), 0x9000)
    assert channel.protect(CommandApdu(0x00, 0xB0, 0x00, 0x04, le=0x12)) == READ_18
    assert channel.unprotect(READ_18_ANSWER) == ResponseApdu(EF_COM_REST, 0x9000)
    assert channel.ssc == SSC + 6


def test_secure_messaging_card_side() -> None:
    """The virtual card's channel decodes the same commands and produces the same responses."""
    card = CardSecureChannel(SessionKeys(KS_ENC, KS_MAC, SSC))
    assert card.unprotect(SELECT_EF_COM) == CommandApdu(0x00, 0xA4, 0x02, 0x0C, h("011E"))
    assert card.protect(b"", 0x9000) == SELECT_ANSWER
    assert card.unprotect(READ_4) == CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4)
    assert card.protect(h("60145F01"), 0x9000) == READ_4_ANSWER
    assert card.unprotect(READ_18) == CommandApdu(0x00, 0xB0, 0x00, 0x04, le=0x12)
    assert card.protect(EF_COM_REST, 0x9000) == READ_18_ANSWER


@pytest.mark.parametrize(("raw", "reason"), [
    (SELECT_ANSWER[:-5] + bytes([SELECT_ANSWER[-5] ^ 1]) + SELECT_ANSWER[-4:], "sm_mac"),   # one MAC bit
    (h("99029000") + h("9000"), "sm_objects_missing"),                                        # no 8E
    (h("9000"), "sm_objects_missing"),                                                        # success in plain
    (h("990290008E08FA855A5D4C50A8ED") + h("00") + h("9000"), "sm_objects_missing"),          # bytes after 8E
    (h("9905900000") + h("9000"), "sm_format"),                                               # broken TLV
])
def test_a_bad_protected_response_is_a_named_error(raw: bytes, reason: str) -> None:
    """Tampered or incomplete responses raise SecureMessagingError with a stable reason."""
    channel = SecureChannel(SessionKeys(KS_ENC, KS_MAC, SSC))
    channel.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, h("011E")))
    with pytest.raises(SecureMessagingError) as err:
        channel.unprotect(raw)
    assert err.value.reason == reason


def test_a_replayed_response_fails_because_the_counter_moved() -> None:
    """The same response bytes one exchange later no longer verify: the SSC is in the MAC."""
    channel = SecureChannel(SessionKeys(KS_ENC, KS_MAC, SSC))
    channel.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, h("011E")))
    channel.unprotect(SELECT_ANSWER)
    channel.protect(CommandApdu(0x00, 0xA4, 0x02, 0x0C, h("011E")))
    with pytest.raises(SecureMessagingError, match="does not verify"):
        channel.unprotect(SELECT_ANSWER)


def test_plain_error_status_passes_through() -> None:
    """A card aborting SM answers 6988 in plain: the caller sees that status, not a crash."""
    channel = SecureChannel(SessionKeys(KS_ENC, KS_MAC, SSC))
    channel.protect(CommandApdu(0x00, 0xB0, 0x00, 0x00, le=4))
    assert channel.unprotect(h("6988")) == ResponseApdu(b"", 0x6988)


def test_padding() -> None:
    """ISO 9797-1 method 2: always at least one byte, to a multiple of 8; unpad refuses junk."""
    assert pad(b"") == h("8000000000000000")
    assert pad(h("011E")) == h("011E800000000000")
    assert len(pad(bytes(8))) == 16
    assert unpad(pad(h("60145F01"))) == h("60145F01")
    for junk in (bytes(8), h("0102030405060708"), h("8000000000000000") + bytes(8)):
        with pytest.raises(SecureMessagingError):
            unpad(junk)
