"""Readable labels for the officer console: referral reasons and officer alerts, in Chinese and English.

The reason keys are ``kiosk.reasons.REASONS`` (its English sentence is the English label); the Chinese
labels are written for officers (shorter and more technical than the resident screen's texts in
``web/static/i18n.js``).  ``tests/kiosk/test_officer_desk.py`` keeps this table in step with REASONS;
an unknown key still gets a label (the key itself), never an error.
"""

from __future__ import annotations

from .reasons import REASONS

REASON_ZH: dict[str, str] = {
    "visitor_no_quota": "外籍访客，无边民额度",
    "card_type_not_accepted": "证件类型不适用边民额度",
    "id_format": "身份证号码格式错误",
    "id_checksum": "身份证号码校验位错误",
    "id_birth_date": "号码中出生日期无效",
    "id_mismatch": "证件信息与号码不符",
    "card_not_yet_valid": "身份证未到有效期",
    "card_expired": "身份证已过期",
    "not_registered": "未备案边民",
    "filing_suspended": "边民备案已暂停",
    "filing_expired": "边民备案已过期",
    "unknown_barcode": "条码不在商品目录",
    "bad_check_digit": "条码校验位错误（误读）",
    "no_exchange_rate": "无当日汇率，坚戈计价商品无法定价",
    "goods_excluded": "含不适用边民免税的商品",
    "goods_over_cap": "超出单项商品每人每日限量",
    "weight_missing": "称重商品缺少重量（需扫秤签）",
    "unknown_goods": "含未知商品",
    "over_quota": "超出今日免税额度",
    "quota_exhausted": "今日额度已用完",
    "ledger_unavailable": "额度账本无法连接",
    "gate_fault": "闸门故障",
    "gate_unavailable": "闸门未连接",
    "card_unreadable": "证件读取失败",
    "card_removed_early": "读卡未完成即取走",
    "card_type_unknown": "未知证件类型",
    "card_type_unverified": "新版外国人永久居留证（未验证）",
    "hold_expired": "额度预留已过期",
    "session_timeout": "超时重置",
    "cancelled": "边民取消",
    "not_passed": "闸门已开但未检测到通行",
    "mrz_required": "需先输入机读码",
    "access_denied": "芯片拒绝访问（机读码不符）",
    "document_mismatch": "芯片与机读码不一致",
    "identify_first": "未读证件先扫码",
    "session_in_progress": "申报进行中又放证件",
    "officer_approved": "关员已批准",
    "officer_taxed": "关员转征税申报",
    "officer_rejected": "关员不予放行",
    "offline_conflict": "离线放行后额度账本拒绝（需核查）",
}

OFFICER_ONLY: dict[str, str] = {
    "offline_conflict": "Granted on the offline allowance, then refused by the port ledger when reconciled.",
}
"""Reason keys only officers see (kiosk.ledger.offline records them; the resident screen never shows them)."""

ALERTS: dict[str, tuple[str, str]] = {
    "tailgating": ("尾随通行：一次放行多人通过", "Tailgating: more than one passage on one release"),
    "wrong_direction": ("反向通行", "Passage in the wrong direction"),
    "passage_without_release": ("未放行却检测到通行", "Passage with no release"),
    "commit_pending": ("已通行但申报未入账，正在重试", "Passed, but the declaration is not committed yet (retrying)"),
    "commit_lost": ("已通行但申报无法入账", "Passed, but the declaration could not be committed"),
    "hand_release_fault": ("人工放行失败：闸门故障", "Release by hand failed: gate fault"),
    "hand_release_not_passed": ("人工放行后未检测到通行", "Released by hand, but nobody passed"),
}
"""Officer alerts (``checkpoint.alert``) by kind."""


def reason_label(key: str) -> dict[str, str]:
    """``{"key", "zh", "en"}`` for a reason key (the key itself where no label is known)."""
    return {"key": key, "zh": REASON_ZH.get(key, key), "en": REASONS.get(key) or OFFICER_ONLY.get(key, key)}


def alert_label(kind: str) -> tuple[str, str]:
    """(Chinese, English) for an alert kind (the kind itself where no label is known)."""
    return ALERTS.get(kind, (kind, kind))
