// Pyra's web UI: the only script the pages load (the CSP allows no other and no inline
// script). Pages work without it; with it, a run's page updates live over Server-Sent
// Events, deadlines count down and the history grid filters by state.
"use strict";

(function () {
  // A run's page: node colours from each event, the live parts re-read from the server.
  const body = document.body;
  const run = body.dataset.run;
  if (run) {
    const live = document.getElementById("live");
    let refreshing = false;
    let again = false;
    const refresh = function () {
      if (refreshing) { again = true; return; }
      refreshing = true;
      fetch("/runs/" + encodeURIComponent(run) + "?part=live", { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          const doc = new DOMParser().parseFromString(html, "text/html");
          doc.querySelectorAll("[data-live]").forEach(function (fresh) {
            const old = document.getElementById(fresh.id);
            if (old) { old.replaceWith(document.importNode(fresh, true)); }
          });
          const status = document.getElementById("run-status");
          if (status && status.dataset.final === "1") { stop(); }
        })
        .catch(function () {})
        .finally(function () {
          refreshing = false;
          if (again) { again = false; refresh(); }
        });
    };
    const source = new EventSource("/runs/" + encodeURIComponent(run) + "/events");
    const stop = function () {
      source.close();
      if (live) { live.textContent = "finished"; live.classList.remove("on"); }
      clearInterval(ticker);
    };
    source.onopen = function () { if (live) { live.textContent = "live"; live.classList.add("on"); } };
    source.onerror = function () { if (live) { live.textContent = "reconnecting…"; live.classList.remove("on"); } };
    source.addEventListener("change", function (e) {
      let event;
      try { event = JSON.parse(e.data); } catch (_) { return; }
      if (event.node && event.state) {
        const g = document.getElementById("node-" + event.node);
        if (g) { g.setAttribute("class", "node state-" + event.state); }
      }
      refresh();
    });
    // Running and waiting bars grow: the timeline is drawn again while the run goes on.
    const ticker = setInterval(function () {
      if (document.querySelector("svg.timeline rect.open")) { refresh(); }
    }, 2000);
    const status = document.getElementById("run-status");
    if (status && status.dataset.final === "1") { stop(); }
  }

  // Deadlines count down.
  const countdowns = document.querySelectorAll("[data-deadline]");
  if (countdowns.length) {
    const tick = function () {
      const now = Date.now();
      countdowns.forEach(function (el) {
        const left = Math.round((Number(el.dataset.deadline) - now) / 1000);
        if (left <= 0) { el.textContent = "expired"; return; }
        const h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
        el.textContent = "in " + (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
      });
    };
    tick();
    setInterval(tick, 1000);
  }

  // The history grid: show only cells of one state.
  const filter = document.querySelector("select[data-grid-filter]");
  if (filter) {
    filter.addEventListener("change", function () {
      const want = filter.value;
      document.querySelectorAll(".grid td.cell").forEach(function (cell) {
        const hide = want !== "" && !cell.classList.contains("state-" + want);
        cell.classList.toggle("hidden", hide);
      });
    });
  }
})();
