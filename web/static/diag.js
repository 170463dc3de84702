// Technician diagnostics: run self-tests (JSON POST with the session's CSRF token) and keep the
// device cards fresh from GET /api/v1/diag.  Text only (textContent): nothing from a device is HTML.
(function () {
  "use strict";

  var csrf = document.querySelector('meta[name="csrf-token"]').getAttribute("content");
  var STATE_ZH = {connected: "已连接", connecting: "连接中", error: "故障", disconnected: "未连接", not_loaded: "未加载"};
  var HEADLINE = {
    card: ["读卡成功", "Card read"], scan: ["扫码成功", "Scan received"],
    gate: ["闸门已脉冲", "Gate pulsed"], slip: ["测试单已打印", "Test slip printed"]
  };

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }

  function bilingual(zh, en) {
    var p = el("span", zh + " ");
    p.appendChild(el("small", en));
    return p;
  }

  function showResult(status, body) {
    var box = document.getElementById("result");
    var headline = document.getElementById("result-headline");
    headline.textContent = "";
    var ok = status === 200 && body.ok === true;
    box.setAttribute("data-ok", ok ? "true" : "false");
    if (ok) {
      var h = HEADLINE[body.test] || ["完成", "Done"];
      headline.appendChild(bilingual(h[0], h[1]));
    } else if (status === 200) {
      headline.appendChild(bilingual("未通过", "Not passed: " + (body.error || "unknown")));
    } else {
      headline.appendChild(bilingual("未运行", "Not run: " + (body.message || body.error || status)));
    }
    document.getElementById("result-json").textContent = JSON.stringify(body, null, 2);
  }

  function runTest(form) {
    var test = form.getAttribute("data-test");
    var body = {};
    var wait = form.querySelector('input[name="timeout_s"]');
    if (wait) body.timeout_s = Number(wait.value);
    var confirm = form.querySelector('input[name="confirm"]');
    if (confirm && confirm.checked) body.confirm = "pulse";
    var buttons = document.querySelectorAll(".test button");
    buttons.forEach(function (b) { b.disabled = true; });
    var headline = document.getElementById("result-headline");
    headline.textContent = "";
    headline.appendChild(bilingual("运行中…", test === "card" ? "Place a card on the reader" :
                                   test === "scan" ? "Scan a barcode" : "Running"));
    document.getElementById("result").setAttribute("data-ok", "");
    fetch("/api/v1/diag/selftest/" + encodeURIComponent(test), {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
      body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (data) { showResult(r.status, data); });
    }).catch(function (err) {
      showResult(0, {error: "network", message: String(err)});
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = b.hasAttribute("data-never"); });
      if (confirm) confirm.checked = false;
      refresh();
    });
  }

  function frameRow(f) {
    var tr = el("tr", null, f.direction);
    var when = el("td", (f.last_at || f.at).substring(11, 23), "mono");
    if (f.repeats) when.appendChild(el("span", " ×" + (f.repeats + 1), "repeats"));
    tr.appendChild(when);
    tr.appendChild(el("td", f.direction === "tx" ? "→ TX" : "← RX"));
    tr.appendChild(el("td", f.length));
    tr.appendChild(el("td", f.hex, "mono hex"));
    return tr;
  }

  function updateDevice(card, d) {
    function set(field, value) {
      var node = card.querySelector('[data-field="' + field + '"]');
      if (node) node.textContent = value === null || value === undefined || value === "" ? "—" : String(value);
    }
    var state = card.querySelector('[data-field="state"]');
    state.textContent = "";
    var badge = el("span", (STATE_ZH[d.state] || d.state) + " ", "state");
    badge.setAttribute("data-state", d.state);
    badge.appendChild(el("small", d.state));
    state.appendChild(badge);
    ["driver", "url", "last_reading_at", "last_error", "reconnects", "frames_captured"].forEach(function (f) {
      set(f, d[f]);
    });
    var body = card.querySelector('[data-field="frames"]');
    body.textContent = "";
    if (!d.frames.length) {
      var empty = el("tr", null, "empty");
      var td = el("td");
      td.colSpan = 4;
      td.appendChild(bilingual("暂无", "None yet"));
      empty.appendChild(td);
      body.appendChild(empty);
    }
    d.frames.slice().reverse().forEach(function (f) { body.appendChild(frameRow(f)); });
  }

  function refresh() {
    fetch("/api/v1/diag", {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) return null;
      return r.json();
    }).then(function (info) {
      if (!info) return;
      document.getElementById("uptime").textContent = Math.round(info.uptime_s) + " s";
      document.getElementById("phase").textContent = info.phase;
      var service = document.getElementById("service");
      service.textContent = info.service;
      service.setAttribute("data-service", info.service);
      info.devices.forEach(function (d) {
        var card = document.querySelector('.device[data-role="' + d.role + '"]');
        if (card) updateDevice(card, d);
      });
    }).catch(function () { /* the next refresh tries again */ });
  }

  document.querySelectorAll("form.test").forEach(function (form) {
    var button = form.querySelector("button");
    if (button && button.disabled) button.setAttribute("data-never", "");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      runTest(form);
    });
  });
  setInterval(refresh, 3000);
})();
