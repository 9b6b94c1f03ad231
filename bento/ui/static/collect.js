// The collect page: while a collection runs, poll /collect/status and redraw its panel.
"use strict";
(function () {
  const body = document.getElementById("collection-body");
  const section = document.getElementById("collection");
  const start = document.getElementById("collect-start");
  const data = document.getElementById("collection-data");
  if (!body || !data) return;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  let shown = null;        // the latest snapshot drawn
  let shownAt = 0;         // when it arrived (performance.now())

  function elapsed(s) {
    const running = s.status === "running";
    const seconds = s.elapsed_s + (running ? (performance.now() - shownAt) / 1000 : 0);
    return `${Math.round(seconds)} s`;
  }

  function tables(s) {
    const names = Object.keys(s.tables);
    if (!names.length) return el("p", { class: "muted" }, "No table stored yet.");
    const rows = names.map((name) => {
      const t = s.tables[name];
      return el("tr", {}, el("th", { scope: "row" }, name), el("td", {}, t.new), el("td", {}, t.changed),
        el("td", {}, t.unchanged), el("td", {}, t.rows === null || t.rows === undefined ? "" : t.rows));
    });
    const heads = ["table", "new", "changed", "unchanged", "rows stored"].map((h) => el("th", { scope: "col" }, h));
    return el("table", { "data-testid": "collect-tables" },
      el("thead", {}, el("tr", {}, heads)),
      el("tbody", {}, rows),
      el("tfoot", {}, el("tr", {}, el("th", { scope: "row" }, "all"),
        el("td", { "data-testid": "collect-new" }, s.totals.new),
        el("td", { "data-testid": "collect-changed" }, s.totals.changed),
        el("td", { "data-testid": "collect-unchanged" }, s.totals.unchanged), el("td", {}))));
  }

  function errors(s) {
    const kinds = Object.keys(s.errors_by_kind);
    if (kinds.length) {
      return el("div", { "data-testid": "collect-errors" },
        el("ul", {}, kinds.map((k) => el("li", {}, el("code", {}, k), `: ${s.errors_by_kind[k]}`))),
        el("p", { class: "muted" }, `${s.failed_sources} failed this run; crawl_errors holds ` +
          `${s.errors_stored === null ? "?" : s.errors_stored} failing source(s).`));
    }
    if (s.errors_stored !== null) return el("div", { "data-testid": "collect-errors" }, el("p", { class: "ok" }, "No source failed."));
    return el("div", { "data-testid": "collect-errors" }, el("p", { class: "muted" }, "Not known yet."));
  }

  function draw(s) {
    shown = s;
    shownAt = performance.now();
    const parts = [
      el("p", { class: "collect-headline" },
        el("span", { class: `status status-${s.status}`, "data-testid": "collect-status" }, s.status), " ",
        el("span", {}, s.author === "all" ? "every author" : s.author),
        " · ", el("span", { "data-testid": "collect-phase" }, s.phase),
        " · ", el("span", { "data-testid": "collect-elapsed" }, elapsed(s)),
        ` · started ${s.started_at} UTC`),
    ];
    if (s.status === "running") parts.push(el("progress", { "aria-label": "collection in progress" }));
    parts.push(el("ol", { class: "stages" }, s.stages.map((st) =>
      el("li", { class: `stage-${st.state}` }, `${st.name} `, el("span", { class: "muted" }, `(${st.state})`)))));
    if (s.run_url) {
      parts.push(el("p", {}, "Dagster run ",
        el("a", { href: s.run_url, "data-testid": "collect-run", target: "_blank", rel: "noopener" }, s.run_id)));
    }
    parts.push(el("h3", {}, "Documents"), tables(s), el("h3", {}, "Errors by kind"), errors(s));
    if (s.checks.length) {
      parts.push(el("h3", {}, "Checks"), el("ul", {}, s.checks.map((c) =>
        el("li", { class: c.passed ? "ok" : "error" }, `${c.name}: ${c.passed ? "passed" : "failed"}`))));
    }
    if (s.error) parts.push(el("p", { class: "error", role: "alert", "data-testid": "collect-error" }, s.error));
    if (s.log_tail && s.log_tail.length) {
      parts.push(el("details", {}, el("summary", {}, "The command's last log lines"), el("pre", {}, s.log_tail.join("\n"))));
    }
    body.replaceChildren(...parts);
    const running = s.status === "running";
    section.setAttribute("aria-busy", running ? "true" : "false");
    if (start) start.disabled = running;
  }

  async function poll() {
    try {
      const response = await fetch("/collect/status", { headers: { Accept: "application/json" } });
      if (response.ok) {
        const s = await response.json();
        if (s.status !== "idle") draw(s);
      }
    } catch (error) {
      // The service restarting: keep the last picture and try again.
    }
    if (!shown || shown.status === "running") setTimeout(poll, 1000);
  }

  const initial = JSON.parse(data.textContent);
  if (initial) {
    draw(initial);
    if (initial.status === "running") {
      setTimeout(poll, 1000);
      setInterval(() => {
        const span = body.querySelector('[data-testid="collect-elapsed"]');
        if (span && shown && shown.status === "running") span.textContent = elapsed(shown);
      }, 1000);
    }
  }
})();
