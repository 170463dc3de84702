// Resident screen texts. One object per language; reason keys match kiosk/reasons.py.
// Translators: edit the strings only; keys and {placeholders} stay as they are.
window.KIOSK_I18N = {
  zh: {
    title: "边民互市自助申报", idle_title: "请将身份证放在读卡器上", idle_hint: "放好后请稍候，系统将自动识别",
    resident: "边民", remaining_today: "今日剩余免税额度", scan_hint: "请逐件扫描商品条码",
    item: "商品", price: "单价", qty: "数量", amount: "金额", total: "合计", cancel: "取消", confirm: "确认申报",
    remove: "删除", unknown_item: "未知商品（条码 {code}）", over_by: "超出额度 {amount}，超出部分需人工办理",
    confirming: "正在核对，请稍候…", approved: "申报通过", approved_hint: "闸门正在打开",
    gate_title: "请通过闸门", declaration_no: "申报单号",
    referred_title: "请到人工通道办理", referred_hint: "海关工作人员将为您处理",
    rejected_title: "无法在本机办理", rejected_hint: "请到人工通道咨询工作人员",
    still_there: "您还在吗？", reset_in: "将在以下时间后重置：", continue: "继续",
    out_of_service: "本机暂停服务，请到人工通道", degraded: "扫码器暂不可用，请联系工作人员",
    reasons: {
      id_format: "身份证号码格式不正确", id_checksum: "身份证号码校验位不正确", id_birth_date: "身份证号码中的出生日期无效",
      id_mismatch: "证件信息与号码不一致", card_not_yet_valid: "身份证尚未生效", card_expired: "身份证已过有效期",
      not_registered: "未查询到您的边民备案", filing_suspended: "您的边民备案已暂停", filing_expired: "您的边民备案已过期",
      card_type_not_accepted: "此类证件不能使用边民免税额度", unknown_barcode: "条码 {code} 不在商品目录中，已加入待人工核对",
      bad_check_digit: "条码 {code} 读取有误，请重新扫描", unknown_goods: "有商品不在目录中，需人工核对",
      over_quota: "超出今日免税额度", quota_exhausted: "今日免税额度已用完", ledger_unavailable: "额度系统暂时无法连接",
      gate_fault: "闸门故障", gate_unavailable: "闸门暂不可用", card_unreadable: "证件读取失败，请重新放置",
      card_removed_early: "读卡未完成证件就被取走，请重新放置", card_type_unknown: "无法识别的证件类型",
      hold_expired: "核对超时", session_timeout: "长时间无操作，已重置", cancelled: "已取消",
      identify_first: "请先放置身份证，再扫描商品", session_in_progress: "请先完成当前申报"
    }
  },
  en: {
    title: "Border market self-declaration", idle_title: "Place your ID card on the reader", idle_hint: "Keep it there until your name appears",
    resident: "Resident", remaining_today: "Duty-free allowance left today", scan_hint: "Scan each item's barcode",
    item: "Item", price: "Price", qty: "Qty", amount: "Amount", total: "Total", cancel: "Cancel", confirm: "Declare and go",
    remove: "Remove", unknown_item: "Unknown item (barcode {code})", over_by: "Over the allowance by {amount}; an officer handles the rest",
    confirming: "Checking, one moment…", approved: "Declaration approved", approved_hint: "The gate is opening",
    gate_title: "Please walk through the gate", declaration_no: "Declaration no.",
    referred_title: "Please go to the staffed lane", referred_hint: "A customs officer will help you",
    rejected_title: "This kiosk cannot serve you", rejected_hint: "Please ask at the staffed lane",
    still_there: "Are you still there?", reset_in: "The screen resets in", continue: "Continue",
    out_of_service: "This kiosk is out of service; please use the staffed lane", degraded: "The scanner is not working; please ask staff",
    reasons: {
      id_format: "The ID number has the wrong format", id_checksum: "The ID number's check digit is wrong", id_birth_date: "The birth date in the ID number is not valid",
      id_mismatch: "The card's details do not match its number", card_not_yet_valid: "The ID card is not valid yet", card_expired: "The ID card has expired",
      not_registered: "You are not in the border-resident register", filing_suspended: "Your border-resident filing is suspended", filing_expired: "Your border-resident filing has expired",
      card_type_not_accepted: "This kind of card cannot use the resident allowance", unknown_barcode: "Barcode {code} is not in the catalogue; an officer will check it",
      bad_check_digit: "Barcode {code} was misread; please scan again", unknown_goods: "Some goods are not in the catalogue and need an officer",
      over_quota: "Over today's duty-free allowance", quota_exhausted: "Today's allowance is used up", ledger_unavailable: "The allowance system cannot be reached",
      gate_fault: "The gate has a fault", gate_unavailable: "The gate is not available", card_unreadable: "The card could not be read; place it again",
      card_removed_early: "The card was taken away too soon; place it again", card_type_unknown: "This card type is not recognised",
      hold_expired: "The check took too long", session_timeout: "Reset after no activity", cancelled: "Cancelled",
      identify_first: "Place your ID card first, then scan goods", session_in_progress: "Please finish the current declaration first"
    }
  }
};
window.KIOSK_RTL = ["ug"];
