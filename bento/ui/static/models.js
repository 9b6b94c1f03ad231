// The models page: after production moved, follow the engine until it serves the new version.
"use strict";
(function () {
  const serving = document.getElementById("serving");
  if (!serving) return;
  const servedNow = serving.querySelector('[data-testid="served-now"]');
  const note = document.getElementById("swap-note");
  let tries = 0;

  function settled() {
    return serving.dataset.served === serving.dataset.production;
  }

  async function follow() {
    tries += 1;
    try {
      const response = await fetch("/models/serving", { headers: { Accept: "application/json" } });
      if (response.ok) {
        const now = await response.json();
        serving.dataset.served = now.served_version === null ? "" : String(now.served_version);
        serving.dataset.production = now.production === null ? "" : String(now.production);
        if (now.served) servedNow.textContent = now.served;
        if (note) note.hidden = settled() || !now.served;
      }
    } catch (error) {
      // The service restarting: try again below.
    }
    if (!settled() && tries < 300) setTimeout(follow, 1000);
  }

  if (!settled()) setTimeout(follow, 500);
})();
