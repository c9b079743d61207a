// A composition just made from the composer: its saved draft is no longer needed (the composer
// keeps it through any refusal, a lost session or a dropped connection, until this page).
// Likewise a region edit just made: the region painted on its picture (painter.js).
(() => {
  const url = new URL(window.location.href);
  const edited = url.searchParams.get("edited");
  if (!url.searchParams.has("composed") && !edited) return;
  try {
    if (url.searchParams.has("composed")) Object.keys(sessionStorage).filter((k) => k.startsWith("composer:")).forEach((k) => sessionStorage.removeItem(k));
    if (edited) sessionStorage.removeItem(`painter:${edited}`);
  } catch (e) { /* storage unavailable: nothing was kept */ }
  url.searchParams.delete("composed");
  url.searchParams.delete("edited");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
})();

// Live progress on a composition's page: poll the progress endpoint, update the bar, the stage
// and the elapsed time, and reload once it has finished to show the results.
(function () {
  "use strict";
  // Words from Django's JavaScript catalogue (jsi18n/); English without it.
  const gettext = window.gettext || ((s) => s);
  const interpolate = window.interpolate || ((fmt, obj) => fmt.replace(/%\((\w+)\)s/g, (_, k) => String(obj[k])));
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  });

  const panel = document.getElementById("progress");
  if (!panel) return;
  const bar = panel.querySelector(".bar");
  const fill = bar.querySelector("span");
  const stageLabel = document.getElementById("stage-label");
  const percent = document.getElementById("percent");
  const elapsed = document.getElementById("elapsed");
  const order = ["held", "queued", "preparing", "generating", "storing", "succeeded"];
  let seconds = 0;
  let failures = 0;

  function clock(s) {
    const m = Math.floor(s / 60);
    return `${m}:${String(s % 60).padStart(2, "0")}`;
  }

  const badge = document.querySelector("#status-badge .badge");

  const waiting = document.getElementById("waiting");

  const eta = document.getElementById("eta");
  const globalPosition = document.getElementById("global-position");

  function show(data) {
    if (waiting) waiting.textContent = data.waiting || "";
    if (eta) eta.textContent = data.eta || "";
    if (globalPosition) {
      const n = data.global_queue_position;
      globalPosition.hidden = !n;
      globalPosition.textContent = n ? interpolate(gettext("Number %(n)s in the queue across the site."), { n }, true) : "";
    }
    if (badge) {
      badge.className = `badge status-${data.status}`;
      badge.textContent = data.stage;
    }
    seconds = data.elapsed_seconds;
    elapsed.textContent = clock(seconds);
    stageLabel.textContent = data.stage;
    percent.textContent = String(data.percent);
    fill.style.width = `${data.percent}%`;
    bar.setAttribute("aria-valuenow", String(data.percent));
    const current = order.indexOf(data.status);
    panel.querySelectorAll(".stages li").forEach((li) => {
      const index = order.indexOf(li.dataset.stage);
      li.classList.toggle("done", current >= 0 && index < current);
      li.classList.toggle("current", index === current);
    });
  }

  async function poll() {
    try {
      const response = await fetch(panel.dataset.url, { headers: { Accept: "application/json" }, cache: "no-store" });
      if (!response.ok) throw new Error(String(response.status));
      const data = await response.json();
      failures = 0;
      show(data);
      if (data.finished) { window.location.reload(); return; }
    } catch (error) {
      failures += 1;
    }
    window.setTimeout(poll, Math.min(1000 * (1 + failures), 10000));
  }

  window.setInterval(() => { seconds += 1; elapsed.textContent = clock(seconds); }, 1000);
  poll();
})();
