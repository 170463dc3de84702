// Simulator panel: each button calls /sim/api/..., and the page polls device state.
(function () {
  "use strict";
  const last = document.getElementById("last");
  async function post(path, body) {
    const r = await fetch("/sim/api/" + path, { method: "POST", headers: { "Content-Type": "application/json" },
                                                 body: JSON.stringify(body || {}) });
    const j = await r.json();
    last.textContent = r.ok ? "done: " + path : "error: " + (j.message || r.status);
    refresh();
  }
  document.querySelectorAll("[data-card]").forEach((b) => b.addEventListener("click", () => post("card", { key: b.dataset.card })));
  document.getElementById("remove-card").addEventListener("click", () => post("card/remove"));
  const walk = document.getElementById("walk");
  if (walk) walk.addEventListener("click", () => post("passage"));
  document.querySelectorAll("[data-code]").forEach((b) => b.addEventListener("click", () => post("scan", { code: b.dataset.code })));
  document.getElementById("scan-form").addEventListener("submit", (e) => {
    e.preventDefault();
    post("scan", { code: document.getElementById("scan-code").value });
  });
  document.querySelectorAll("tr[data-role]").forEach((tr) => {
    tr.querySelector(".unplug").addEventListener("click", () => post("device/" + tr.dataset.role, { plugged: false }));
    tr.querySelector(".plug").addEventListener("click", () => post("device/" + tr.dataset.role, { plugged: true }));
  });
  async function refresh() {
    try {
      const [sim, health] = await Promise.all([fetch("/sim/api/state").then((r) => r.json()),
                                               fetch("/api/v1/health").then((r) => r.json())]);
      document.querySelectorAll("tr[data-role]").forEach((tr) => {
        const role = tr.dataset.role;
        tr.querySelector(".plugged").textContent = sim.plugged[role] ? "yes" : "no";
        tr.querySelector(".health").textContent = health[role] ? health[role].state : "—";
      });
      document.getElementById("relay").textContent = JSON.stringify(sim.relay);
    } catch (e) { /* the server may be restarting */ }
  }
  refresh();
  setInterval(refresh, 1000);
})();
