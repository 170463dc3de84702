"""Every stable refusal / referral reason key the kiosk uses, with a plain English sentence.

The sentences are for logs, the audit trail and the officer console.  Resident-facing wording,
in every screen language, lives in ``web/static/i18n.js`` under the same keys
(``tests/web/test_i18n.py`` keeps the two in step).  Add a key here before any module returns
it; ``tests/kiosk/test_reasons.py`` checks the domain modules against it.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    # identity and eligibility (kiosk.identity, kiosk.residents.check_eligibility), in check order
    "visitor_no_quota": "A foreign visitor's passport or ID card carries no border-resident quota; "
                        "the officer handles the declaration.",
    "card_type_not_accepted": "This kind of card cannot use the border-resident duty-free quota.",
    "id_format": "The ID number on the card is not 17 digits followed by a digit or X.",
    "id_checksum": "The check digit of the ID number is wrong.",
    "id_birth_date": "The birth date inside the ID number is not a real date.",
    "id_mismatch": "The birth date or gender on the card does not match its ID number.",
    "card_not_yet_valid": "The ID card is not valid yet.",
    "card_expired": "The ID card has expired.",
    "not_registered": "The card holder is not in the border-resident registry.",
    "filing_suspended": "The card holder's border-resident filing is suspended.",
    "filing_expired": "The card holder's border-resident filing has expired.",
    # goods and barcodes (kiosk.catalog)
    "unknown_barcode": "The scanned barcode is not in the goods catalog.",
    "bad_check_digit": "The scanned barcode has a wrong check digit; it was probably misread.",
    # goods: prices, exchange rates, goods rules, scale labels (kiosk.basket)
    "no_exchange_rate": "No exchange rate is in force for the day, so goods priced in tenge cannot be priced.",
    "goods_excluded": "The declaration contains goods that border residents cannot bring in duty-free.",
    "goods_over_cap": "The declaration exceeds a per-person daily quantity limit for some goods.",
    "weight_missing": "Goods sold by weight were scanned without a weight; their scale label must be scanned.",
    # the declaration (kiosk.policy.decide)
    "unknown_goods": "The declaration contains goods the kiosk could not identify.",
    "over_quota": "The declaration exceeds the remaining duty-free quota for today.",
    "quota_exhausted": "Today's duty-free quota has already been used up.",
    # devices and infrastructure
    "ledger_unavailable": "The port ledger could not be reached, so nothing can be recorded.",
    "gate_fault": "The gate did not release or report the passage as expected.",
    "gate_unavailable": "The gate relay is not connected.",
    "card_unreadable": "The ID card could not be read.",
    "card_removed_early": "The ID card was removed before it had been read completely.",
    "card_type_unknown": "The card reader found a card of an unknown type.",
    "card_type_unverified": "The card is a 2023 foreigner permanent residence card, whose data layout "
                            "is not verified yet.",
    # session
    "hold_expired": "The quota held for this declaration expired before it was confirmed.",
    "session_timeout": "The session was reset after a period without activity.",
    "cancelled": "The resident cancelled the declaration.",
    # the gate release (kiosk.release_flow)
    "not_passed": "The gate opened but the passage sensor saw nobody go through; the hold was released.",
    # passports and ID cards with a chip (drivers.cardreader.emrtd)
    "mrz_required": "The document's machine-readable zone must be entered before its chip can be read.",
    "access_denied": "The document's chip refused Basic Access Control: the MRZ used does not match it.",
    "document_mismatch": "The MRZ read from the chip (DG1) differs from the one used to open it.",
    # an officer's decision on a referral, shown to the resident still at the kiosk (kiosk.officer_commands)
    "officer_approved": "A customs officer approved the declaration's duty-free part; the gate opens.",
    "officer_taxed": "A customs officer sent the goods to a taxed declaration at the officer's desk.",
    "officer_rejected": "A customs officer did not release the declaration; the resident goes to the officer's desk.",
    # notices on the resident screen (kiosk.checkpoint)
    "identify_first": "A barcode was scanned before any ID card was read.",
    "session_in_progress": "Another card was placed while a declaration was open.",
}
