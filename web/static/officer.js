// Officer console: the queue, alerts and this kiosk's state, live (SSE /api/v1/events/officer, with a poll
// as a fallback for referrals made at other kiosks of the port), and the officer's actions as JSON POSTs
// carrying the session's CSRF token. Every value from the server goes into the page as text, never as HTML.
(function () {
  "use strict";
  const CSRF = document.querySelector('meta[name="csrf-token"]').content;
  const POLL_MS = 15000;
  const PHASES = {
    idle: ["空闲", "Idle"], identified: ["已识别", "Identified"], scanning: ["扫描中", "Scanning"],
    confirming: ["核对中", "Confirming"], approved: ["已批准", "Approved"], gate: ["通行中", "At the gate"],
    referred: ["已转人工", "Referred"], rejected: ["已拒绝", "Refused"],
  };
  const IN_FLIGHT = ["confirming", "approved", "gate"];
  const FILING = { active: "备案有效", suspended: "备案已暂停" };
  const DONE = {
    approved: ["已批准免税部分", "Duty-free part approved"], taxed: ["已转征税申报", "Sent to taxed declaration"],
    rejected: ["已拒绝", "Rejected"],
  };
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  let queue = { referrals: [] };
  let lastPhase = null;
  let version = 0;
  let refreshTimer = null;
  let current = null;          // the declaration a dialog acts on

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    Object.entries(props || {}).forEach(([k, v]) => {
      if (k === "class") node.className = v;
      else if (k === "data") Object.entries(v).forEach(([dk, dv]) => { node.dataset[dk] = dv; });
      else if (k === "on") Object.entries(v).forEach(([ev, fn]) => node.addEventListener(ev, fn));
      else node.setAttribute(k, v);
    });
    children.flat().forEach((c) => { if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c)); });
    return node;
  }
  const bi = (zh, en) => [zh + " ", el("small", {}, en), " "];
  const yuan = (fen) => "¥" + (fen < 0 ? "-" : "") + Math.floor(Math.abs(fen) / 100).toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + String(Math.abs(fen) % 100).padStart(2, "0");
  const clock = (iso) => (iso ? iso.slice(11, 19) : "");
  const chip = (label) => el("li", { class: "chip", data: { reason: label.key } }, bi(label.zh, label.en));

  async function api(method, path, body) {
    const init = { method, credentials: "same-origin", cache: "no-store", headers: {} };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/json";
      init.headers["X-CSRF-Token"] = CSRF;
      init.body = JSON.stringify(body || {});
    }
    const r = await fetch(path, init);
    const data = await r.json().catch(() => ({}));
    if (r.status === 401) { location.href = "/signin?next=" + encodeURIComponent("/officer/"); }
    if (!r.ok) {
      const err = new Error(data.message || r.statusText);
      err.key = data.error; err.status = r.status;
      throw err;
    }
    return data;
  }

  function toast(text, kind) {
    const box = $("#toast");
    box.textContent = text;
    box.dataset.kind = kind || "ok";
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 6000);
  }

  // -- the queue ------------------------------------------------------------------------------------------

  function lineRows(lines) {
    return el("table", { class: "lines" }, el("tbody", {}, lines.map((l) => el("tr", { class: l.known ? "" : "unknown" },
      el("td", {}, l.known ? (l.name || l.code) : ["未知商品 ", el("small", {}, "Unknown "), el("span", { class: "mono" }, l.code)]),
      el("td", { class: "num" }, "×" + l.quantity),
      el("td", { class: "num" }, l.known ? yuan(l.amount_fen) : "—")))));
  }

  function referralCard(d) {
    return el("li", { class: "referral" + (d.at_kiosk ? " here" : ""), data: { decl: d.id, atKiosk: String(d.at_kiosk) } },
      el("div", { class: "head" },
        el("span", { class: "mono who" }, d.masked_id),
        el("span", { class: "meta" }, bi("闸机", "Kiosk"), el("b", {}, d.kiosk_id), " · ", clock(d.created_at)),
        d.at_kiosk ? el("span", { class: "badge" }, bi("边民在机前", "At this kiosk now")) : null),
      el("ul", { class: "chips" }, d.reasons.map(chip)),
      lineRows(d.lines),
      el("div", { class: "foot" },
        el("span", { class: "total" }, bi("合计", "Total"), el("b", {}, yuan(d.total_fen))),
        el("button", { type: "button", class: "big", data: { action: "decide" }, on: { click: () => openDecide(d) } },
          bi("处理", "Decide"))));
  }

  // A card is rebuilt only when its referral changed, and the list is touched only when its order or members
  // changed: a refresh (every state change on this kiosk triggers one) never swaps the node under an officer's
  // finger, so a tap on "Decide" is never lost.
  let cards = new Map();   // declaration id -> { key, node }

  function syncCards(referrals) {
    const next = new Map();
    const nodes = referrals.map((d) => {
      const key = JSON.stringify(d);
      const old = cards.get(d.id);
      const node = old && old.key === key ? old.node : referralCard(d);
      next.set(d.id, { key, node });
      return node;
    });
    cards = next;
    const list = $("#queue");
    const unchanged = nodes.length === list.children.length && nodes.every((n, i) => list.children[i] === n);
    if (!unchanged) list.replaceChildren(...nodes);
  }

  function renderQueue(q) {
    queue = q;
    syncCards(q.referrals);
    $("#queue-count").textContent = q.referrals.length;
    $("#queue-empty").hidden = q.referrals.length > 0;
    const alerts = $("#alerts");
    alerts.replaceChildren(...q.alerts.map((a) => el("li", { class: "alert", data: { kind: a.kind } },
      el("b", {}, bi(a.label.zh, a.label.en)), " ", el("span", { class: "meta" }, clock(a.at)),
      a.declaration_id ? el("span", { class: "mono" }, " " + a.declaration_id.slice(0, 12)) : null)));
    $("#alert-count").textContent = q.alerts.length;
    $("#alerts-empty").hidden = q.alerts.length > 0;
    $("#conflicts-card").hidden = !q.offline_allowance && q.conflicts.length === 0;
    $("#conflicts").replaceChildren(...q.conflicts.map((c) => el("li", { class: "alert", data: { decl: c.declaration_id } },
      el("span", { class: "mono" }, c.masked_id), " ", yuan(c.amount_fen), " ", el("span", { class: "meta" }, c.reason))));
    renderKiosk(q.kiosk);
    version += 1;
    document.body.dataset.queueVersion = String(version);
  }

  function renderKiosk(k) {
    const [zh, en] = PHASES[k.phase] || [k.phase, k.phase];
    const phase = $("#kiosk-phase");
    phase.dataset.phase = k.phase;
    phase.replaceChildren(...bi(zh, en));
    $("#kiosk-who").textContent = k.masked_id || "";
    $("#kiosk-reasons").replaceChildren(...k.reasons.map(chip));
    const blocked = IN_FLIGHT.includes(k.phase) || !k.gate_usable || k.hand_release;
    $("#open-release").disabled = blocked;
    $("#gate-state").replaceChildren(...(!k.gate_usable ? bi("闸门未连接", "The gate relay is not connected")
      : k.hand_release ? bi("人工放行进行中", "Release by hand in progress")
      : IN_FLIGHT.includes(k.phase) ? bi("边民正在通行，请稍候", "A resident is being released: wait") : []));
  }

  async function refresh() {
    try { renderQueue(await api("GET", "/api/v1/officer/queue")); } catch (e) { /* the next event or poll retries */ }
  }
  function refreshSoon() { clearTimeout(refreshTimer); refreshTimer = setTimeout(refresh, 100); }

  function connect() {
    const live = $("#live");
    const es = new EventSource("/api/v1/events/officer");
    es.addEventListener("open", () => { live.dataset.state = "live"; refresh(); });
    es.addEventListener("officer.queue", refreshSoon);
    es.addEventListener("checkpoint.alert", refreshSoon);
    es.addEventListener("checkpoint.state", (ev) => {
      const s = JSON.parse(ev.data);
      if (s.phase !== lastPhase) { lastPhase = s.phase; refreshSoon(); }
    });
    es.addEventListener("error", () => {
      live.dataset.state = "reconnecting";
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    });
  }

  // -- dialogs ----------------------------------------------------------------------------------------------

  function showError(form, err) {
    const p = $("[data-error]", form);
    p.textContent = err ? err.message : "";
    p.dataset.key = err ? (err.key || "") : "";
    p.hidden = !err;
  }

  function openDialog(id) {
    const dialog = $(id);
    const form = $("form", dialog);
    form.reset();
    showError(form, null);
    dialog.showModal();
    return form;
  }

  function openDecide(d) {
    current = d;
    openDialog("#decide-dialog");
    $("#decide-summary").replaceChildren(
      el("p", {}, el("span", { class: "mono" }, d.masked_id), " · ", bi("闸机", "Kiosk"), d.kiosk_id, " · ",
        bi("合计", "Total"), el("b", {}, yuan(d.total_fen)), " / ", bi("限额", "limit"), yuan(d.limit_fen)),
      el("ul", { class: "chips" }, d.reasons.map(chip)), lineRows(d.lines));
  }

  async function submit(form, path, fields, done) {
    const body = {};
    fields.forEach((name) => { const v = new FormData(form).get(name); if (v !== null && v !== "") body[name] = v; });
    const note = (body.note || "").trim();
    if (body.reason === "other" && !note) {
      showError(form, { message: "理由为“其他”时请填写备注 · A note is required with reason “other”", key: "bad_note" });
      return;
    }
    $$("button", form).forEach((b) => { b.disabled = true; });
    try {
      const result = await api("POST", path, body);
      form.closest("dialog").close();
      done(result);
      refreshSoon();
    } catch (err) {
      showError(form, err);
    } finally {
      $$("button", form).forEach((b) => { b.disabled = false; });
    }
  }

  $("#decide-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(ev.target, "/api/v1/officer/referrals/" + encodeURIComponent(current.id) + "/decision",
      ["decision", "reason", "note"], (r) => {
        const [zh, en] = DONE[r.declaration.decision.decision.key] || ["已处理", "Decided"];
        toast(zh + " · " + en + (r.gate === "pulsing" ? " — 闸门正在打开 · the gate is opening" : ""));
      });
  });
  $("#release-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(ev.target, "/api/v1/officer/gate/release", ["reason", "note"],
      () => toast("闸门已放行一次 · The gate was released once"));
  });
  $("#void-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(ev.target, "/api/v1/officer/declarations/" + encodeURIComponent(current.id) + "/void", ["reason", "note"],
      (r) => { toast("已作废，今日剩余 " + yuan(r.remaining_fen) + " · Voided; left today"); showDeclaration(r.declaration); });
  });
  $$("[data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
  $("#open-release").addEventListener("click", () => openDialog("#release-dialog"));

  // -- tools ------------------------------------------------------------------------------------------------

  function declarationBlock(d) {
    const actions = [];
    if (d.status.key === "committed" || d.status.key === "approved") {
      actions.push(el("button", { type: "button", class: "secondary", data: { action: "reprint" },
        on: { click: () => reprint(d) } }, bi("重打单据", "Reprint slip")));
    }
    if (d.status.key === "committed" && d.day === document.body.dataset.today) {
      actions.push(el("button", { type: "button", class: "danger", data: { action: "void" },
        on: { click: () => { current = d; openDialog("#void-dialog"); $("#void-id").textContent = d.id.slice(0, 12); } } },
        bi("作废", "Void")));
    }
    return el("div", { class: "declaration", data: { decl: d.id, status: d.status.key } },
      el("p", {}, el("span", { class: "mono" }, d.id), " · ", bi(d.status.zh, d.status.en), " · ", clock(d.created_at),
        " · ", el("b", {}, yuan(d.total_fen))),
      d.reasons.length ? el("ul", { class: "chips" }, d.reasons.map(chip)) : null,
      d.decision ? el("p", { class: "hint" }, bi(d.decision.decision.zh, d.decision.decision.en), " · ",
        d.decision.officer, " · ", bi(d.decision.reason.zh, d.decision.reason.en)) : null,
      lineRows(d.lines), el("div", { class: "actions" }, actions));
  }

  function showDeclaration(d) { $("#declaration-result").replaceChildren(declarationBlock(d)); }

  async function reprint(d) {
    try {
      await api("POST", "/api/v1/officer/declarations/" + encodeURIComponent(d.id) + "/reprint", {});
      toast("单据已重打 · Slip reprinted");
    } catch (err) { toast(err.message, "error"); }
  }

  function tool(formId, run) {
    $(formId).addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      try { await run(form); } catch (err) {
        const box = form.nextElementSibling;
        box.replaceChildren(el("p", { class: "error", data: { error: err.key || "" } }, err.message));
      }
    });
  }

  tool("#lookup-form", async (form) => {
    const input = form.elements.id_number;
    const number = input.value;
    input.value = "";                        // the full number does not stay on the screen
    const r = await api("POST", "/api/v1/officer/lookup", { id_number: number });
    $("#lookup-result").replaceChildren(
      el("p", { class: "quota" }, el("span", { class: "mono" }, r.masked_id), " · ",
        bi("今日已用", "Used today"), el("b", { data: { used: r.used_fen } }, yuan(r.used_fen)), " · ",
        bi("剩余", "Left"), el("b", { id: "lookup-remaining", data: { remaining: r.remaining_fen } }, yuan(r.remaining_fen)),
        " / ", yuan(r.limit_fen)),
      el("p", { class: "hint", data: { registry: r.registry ? r.registry.status : "none" } }, r.registry
        ? bi((FILING[r.registry.status] || r.registry.status) + " · 有效至 " + r.registry.filing_valid_until,
          "Filing " + r.registry.status + " until " + r.registry.filing_valid_until)
        : bi("未备案", "Not in the border-resident registry")),
      ...(r.declarations.length ? r.declarations.map(declarationBlock)
        : [el("p", { class: "empty" }, bi("今日无申报", "No declarations today"))]));
  });
  tool("#declaration-form", async (form) => {
    showDeclaration(await api("GET", "/api/v1/officer/declarations/" + encodeURIComponent(form.elements.declaration_id.value.trim())));
  });
  tool("#slip-form", async (form) => {
    const r = await api("POST", "/api/v1/officer/slips/verify", { payload: form.elements.payload.value });
    form.elements.payload.value = "";
    $("#slip-result").replaceChildren(
      el("p", { class: r.slip.genuine && r.consistent ? "good" : "error", data: { genuine: String(r.slip.genuine) } },
        r.slip.genuine ? (r.consistent ? bi("真实单据，与账本一致", "Genuine, and it matches the ledger")
          : bi("真实单据，但与账本不一致", "Genuine, but it does not match the ledger"))
          : bi("单据无效", r.slip.reason_text || "Not a genuine slip")),
      ...(r.declaration ? [declarationBlock(r.declaration)] : []));
  });
  tool("#report-form", async (form) => {
    const day = form.elements.day.value;
    const r = await api("GET", "/api/v1/officer/report?day=" + encodeURIComponent(day));
    $("#report-print").href = "/officer/report?day=" + encodeURIComponent(day);
    $("#report-csv").href = "/api/v1/officer/export?day=" + encodeURIComponent(day);
    const table = (head, rows) => el("table", { class: "grid-table" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows));
    $("#report-result").replaceChildren(
      el("p", {}, bi("申报总数", "Declarations"), el("b", {}, r.declarations), " · ", bi("免税合计", "Duty-free"), el("b", {}, "¥" + r.duty_free)),
      table([bi("状态", "Status"), bi("笔数", "Count"), bi("金额", "Amount")],
        r.by_status.map((s) => el("tr", { data: { status: s.key } }, el("td", {}, bi(s.zh, s.en)), el("td", { class: "num" }, s.count),
          el("td", { class: "num" }, "¥" + s.total)))),
      table([bi("原因", "Reason"), bi("次数", "Count")],
        r.by_reason.map((s) => el("tr", { data: { reason: s.key } }, el("td", {}, bi(s.zh, s.en)), el("td", { class: "num" }, s.count)))));
  });

  $$("[data-tab]").forEach((tab) => tab.addEventListener("click", () => {
    $$("[data-tab]").forEach((t) => t.setAttribute("aria-selected", String(t === tab)));
    $$("[data-panel]").forEach((p) => { p.hidden = p.dataset.panel !== tab.dataset.tab; });
  }));

  refresh().then(connect);
  setInterval(refresh, POLL_MS);
})();
