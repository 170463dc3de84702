// Resident screen: renders only from the state snapshot (GET /api/v1/state, then SSE).
(function () {
  "use strict";
  const I18N = window.KIOSK_I18N;
  let lang = "zh";
  let state = null;
  let countdown = null;
  let resetLangTimer = null;

  const $ = (sel) => document.querySelector(sel);
  const t = (key) => (I18N[lang] && I18N[lang][key]) || I18N.zh[key] || I18N.en[key] || key;
  const reason = (key, vars) => {
    const table = (I18N[lang] && I18N[lang].reasons) || {};
    let text = table[key] || I18N.zh.reasons[key] || I18N.en.reasons[key] || key;
    Object.entries(vars || {}).forEach(([k, v]) => { text = text.replace("{" + k + "}", v); });
    return text;
  };
  const money = (fen) => {
    const sign = fen < 0 ? "-" : "";
    const abs = Math.abs(fen);
    const yuan = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
    // Isolated left-to-right (LRI … PDI), so "¥8,000.00" keeps its order inside Uyghur text.
    return "\u2066" + sign + "¥" + yuan + "." + String(abs % 100).padStart(2, "0") + "\u2069";
  };
  const itemName = (line) => line.known
    ? (line.names[lang] || line.names.zh || line.names.en || line.code)
    : t("unknown_item").replace("{code}", line.code);

  function applyLanguage() {
    document.documentElement.lang = lang;
    document.documentElement.dir = (window.KIOSK_RTL || []).includes(lang) ? "rtl" : "ltr";
    document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
    document.querySelectorAll("[data-lang]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
    if (state) render(state);
  }

  function render(s) {
    state = s;
    document.body.dataset.phase = s.phase;
    document.body.dataset.version = s.version;
    const service = $("#service");
    service.hidden = s.service === "ok";
    service.textContent = s.service === "ok" ? "" : t(s.service);
    const notice = $("#notice");
    notice.hidden = !s.notice;
    notice.textContent = s.notice ? reason(s.notice.reason, s.notice) : "";
    notice.dataset.reason = s.notice ? s.notice.reason : "";
    if (s.resident) renderShopping(s);
    $("#referred-reasons").innerHTML = "";
    $("#rejected-reasons").innerHTML = "";
    const list = s.phase === "rejected" ? $("#rejected-reasons") : $("#referred-reasons");
    s.reasons.forEach((r) => {
      const li = document.createElement("li");
      li.dataset.reason = r;
      li.textContent = r === "over_quota" && s.quota
        ? reason(r) + " (" + t("over_by").replace("{amount}", money(s.quota.over_by_fen)) + ")"
        : reason(r);
      // Goods that refer the declaration by themselves (excluded, over their daily cap) are named under it.
      const named = s.lines.filter((line) => line.flag === r);
      if (named.length) {
        const goods = document.createElement("ul");
        goods.className = "goods";
        named.forEach((line) => {
          const item = document.createElement("li");
          item.textContent = itemName(line);
          item.dataset.code = line.code;
          goods.appendChild(item);
        });
        li.appendChild(goods);
      }
      list.appendChild(li);
    });
    $("#gate-decl").textContent = s.declaration_id ? s.declaration_id.slice(0, 12).toUpperCase() : "";
    // An officer approved this referral from the console: say so on the approved and gate screens.
    document.querySelectorAll(".officer-note").forEach((p) => {
      p.hidden = !s.reasons.includes("officer_approved");
      p.textContent = p.hidden ? "" : reason("officer_approved");
    });
    renderWarning(s);
    if (s.phase === "idle") scheduleLanguageReset();
  }

  function renderShopping(s) {
    $("#who-name").textContent = s.resident.name;
    $("#who-id").textContent = s.resident.masked_id;
    $("#remaining").textContent = money(s.quota.remaining_fen);
    $("#gate-remaining").textContent = money(s.quota.remaining_fen);
    $("#limit").textContent = money(s.quota.limit_fen);
    const share = s.quota.remaining_fen > 0 ? Math.min(1, s.total_fen / s.quota.remaining_fen) : 1;
    $("#meter-fill").style.width = (share * 100).toFixed(1) + "%";
    $("#meter-fill").classList.toggle("over", s.quota.over_by_fen > 0);
    const body = $("#basket tbody");
    body.innerHTML = "";
    const kilograms = (grams) => Math.floor(grams / 1000) + "." + String(grams % 1000).padStart(3, "0");
    s.lines.forEach((line, i) => {
      const tr = document.createElement("tr");
      tr.className = line.known ? "" : "unknown";
      const byWeight = line.unit === "kg";
      const qty = byWeight ? kilograms(line.quantity) + " kg" : "×" + line.quantity;
      const price = line.known ? money(line.unit_price_fen) + (byWeight ? "/kg" : "") : "—";
      const cells = [itemName(line), price, qty, line.known ? money(line.amount_fen) : "—"];
      cells.forEach((text, c) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (c > 0) td.className = "num";
        tr.appendChild(td);
      });
      const td = document.createElement("td");
      const btn = document.createElement("button");
      btn.textContent = "✕";
      btn.title = t("remove");
      btn.setAttribute("aria-label", t("remove") + " " + itemName(line));
      btn.addEventListener("click", () => command("lines/" + i + "/remove"));
      td.appendChild(btn);
      tr.appendChild(td);
      body.appendChild(tr);
    });
    $("#basket").hidden = s.lines.length === 0;
    $("#total").textContent = money(s.total_fen);
    const over = $("#over");
    over.hidden = s.quota.over_by_fen <= 0;
    over.textContent = t("over_by").replace("{amount}", money(s.quota.over_by_fen));
    $("#confirm").disabled = s.lines.length === 0;
  }

  function renderWarning(s) {
    const box = $("#warning");
    if (!s.warning) { box.hidden = true; clearInterval(countdown); countdown = null; return; }
    if (!box.hidden) return;
    box.hidden = false;
    let left = Math.round(s.warning.seconds);
    $("#warning-s").textContent = left;
    clearInterval(countdown);
    countdown = setInterval(() => { left = Math.max(0, left - 1); $("#warning-s").textContent = left; }, 1000);
  }

  function scheduleLanguageReset() {
    // The next resident starts in Chinese (the default) unless they choose otherwise.
    clearTimeout(resetLangTimer);
    resetLangTimer = setTimeout(() => { if (state && state.phase === "idle" && lang !== "zh") { lang = "zh"; applyLanguage(); } }, 30000);
  }

  async function command(path) {
    try {
      const r = await fetch("/api/v1/resident/" + path, {
        method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
      if (r.ok) accept(await r.json());
    } catch (e) { /* the stream or the next resync will bring the truth */ }
  }

  function accept(s) { if (!state || s.version >= state.version) render(s); }

  async function resync() {
    try {
      const r = await fetch("/api/v1/state", { cache: "no-store" });
      if (r.ok) render(await r.json());
    } catch (e) { setTimeout(resync, 2000); }
  }

  function connect() {
    const es = new EventSource("/api/v1/events/resident");
    es.addEventListener("open", resync);
    es.addEventListener("checkpoint.state", (ev) => accept(JSON.parse(ev.data)));
    es.addEventListener("error", () => {
      // The browser retries by itself after a network error, but gives up for good on an HTTP
      // error (e.g. a 503 while the service restarts): start over then.
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  document.querySelectorAll("[data-lang]").forEach((b) => b.addEventListener("click", () => {
    lang = b.dataset.lang; applyLanguage(); command("touch");
  }));
  $("#confirm").addEventListener("click", () => command("confirm"));
  $("#cancel").addEventListener("click", () => command("cancel"));
  $("#stay").addEventListener("click", () => command("touch"));
  applyLanguage();
  resync().then(connect);
})();
