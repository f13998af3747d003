// CompareBar: the bar above a comparison's columns (Compare, Sweep): figures per column,
// the best highlighted, how the numbers were taken, Stop all.
// Which figures are rows comes from Python (`figures`: speed, then mean logprob and
// perplexity when the comparison shows them).
import { h } from "./shared.js";

function spreadText(s, name, digits, unit) {
  const mean = s[name], std = s[`${name}_std`];
  if (mean == null) return "–";
  if (name === "tokens" && std == null) digits = 0; // one run: a count, not a mean
  return `${Number(mean).toFixed(digits)}${std != null ? ` ± ${Number(std).toFixed(digits)}` : ""}${unit}`;
}

function render({ model, el }) {
  const root = h("div", { class: "llnb-compare", role: "region", "aria-label": "comparison" });
  const title = h("span", { class: "llnb-title" });
  const status = h("span", { class: "llnb-status", "aria-live": "polite" });
  const stop = h("button", { class: "llnb-stop llnb-stop-all", type: "button", title: "Stop every column" }, "■ Stop all");
  const table = h("table", { class: "llnb-compare-table" });
  const mode = h("div", { class: "llnb-compare-mode" });
  root.append(h("div", { class: "llnb-head" }, title, status, stop), table, mode);
  el.append(root);
  stop.addEventListener("click", () => { stop.disabled = true; stop.textContent = "Stopping…"; model.send({ type: "stop_all" }); });
  function show() {
    const state = model.get("state"), summary = model.get("summary") || [], best = model.get("best") || {};
    const live = state === "running";
    root.dataset.state = state;
    title.textContent = model.get("title");
    status.textContent = `${{ idle: "not started", running: "running", done: "done", stopped: "stopped" }[state] || state} · ${model.get("progress")}`;
    stop.hidden = !live;
    if (live) { stop.disabled = false; stop.textContent = "■ Stop all"; }
    mode.textContent = model.get("mode");
    if (!summary.length) { table.replaceChildren(h("tr", {}, h("td", { class: "llnb-empty" }, live ? "Waiting for the first run to end…" : "No runs yet."))); return; }
    const head = h("tr", {}, h("th", {}), ...summary.map((s) => h("th", { scope: "col" }, s.label)));
    const rows = (model.get("figures") || []).map(([name, label, digits, unit]) => h("tr", {}, h("th", { scope: "row" }, label),
      ...summary.map((s) => {
        const isBest = best[name] === s.column && summary.length > 1;
        return h("td", { class: isBest ? "llnb-best" : "", "data-figure": name, "data-column": String(s.column), title: isBest ? "best" : "" }, spreadText(s, name, digits, unit));
      })));
    const done = h("tr", {}, h("th", { scope: "row" }, "done"), ...summary.map((s) => h("td", { "data-figure": "done_reason" }, s.done_reason || "–")));
    table.replaceChildren(head, ...rows, done);
  }
  for (const name of ["state", "summary", "best", "figures", "mode", "progress", "title"]) model.on(`change:${name}`, show);
  show();
}

export default { render };
