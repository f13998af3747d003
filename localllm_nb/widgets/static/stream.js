// StreamView's renderer: draws a StreamState (stream_state.js) and feeds it the kernel's
// frames and commits. The state decides; this module only paints, on a cadence.
import { Cadence, escapeHtml, h, markdown, niceCeil, rates } from "./shared.js";
import { StreamState } from "./stream_state.js";
import { LensPane, TokenLens, entropy } from "./lens.js";

// Live text is appended as plain text at once; the whole answer is rendered as Markdown
// at most once a second and at the end, the chart, stats strip and thinking header at
// most twice a second (benchmarks/bench_widgets.py).
const MARKDOWN_EVERY_MS = 1000;
const LIVE_EVERY_MS = 500;
const COLORS = { c: "#1f77b4", t: "#ff7f0e", server: "#2ca02c", ttft: "#888", entropy: "#6a1b9a" };
const TRAITS = ["run_id", "seq", "content", "thinking", "points", "tool_calls", "state", "stats", "stats_rows", "error", "lens_data"];

// [t, entropy] per token that has alternatives: token i is timed by the first point
// whose count (content + thinking so far) reaches i + 1.
function entropySeries(tokens, points) {
  const out = [];
  let j = 0;
  tokens.forEach((tok, i) => {
    while (j < points.length - 1 && points[j][1] < i + 1) j++;
    const e = entropy(tok);
    if (e !== null && points.length) out.push([points[j][0], e]);
  });
  return out;
}

const traitsOf = (model, names = TRAITS) => Object.fromEntries(names.map((n) => [n, model.get(n)]));

// tokens/s along the run (one colour per channel), a dashed TTFT line and, once the run
// ended, the server's own figure.
// With the lens on, each token's entropy (nats, right axis) as purple ticks.
function drawChart(canvas, points, ttft, serverTps, entropies = []) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 560, hgt = canvas.clientHeight || 120;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = hgt * dpr; }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, hgt);
  const series = rates(points);
  const pad = { l: 34, r: 8, t: 8, b: 16 };
  const tMax = niceCeil(Math.max(1, ...points.map((p) => p[0])));
  const yMax = niceCeil(Math.max(10, serverTps || 0, ...series.map((s) => s[1])) * 1.1);
  const x = (t) => pad.l + (t / tMax) * (w - pad.l - pad.r);
  const y = (v) => hgt - pad.b - (v / yMax) * (hgt - pad.t - pad.b);
  ctx.strokeStyle = "#ccc"; ctx.fillStyle = "#666"; ctx.font = "10px sans-serif";
  ctx.beginPath(); ctx.moveTo(pad.l, pad.t); ctx.lineTo(pad.l, hgt - pad.b); ctx.lineTo(w - pad.r, hgt - pad.b); ctx.stroke();
  ctx.fillText(`${yMax}`, 2, pad.t + 8); ctx.fillText("tok/s", 2, hgt / 2); ctx.fillText(`${tMax} s`, w - pad.r - 28, hgt - 3);
  if (ttft != null) {
    ctx.strokeStyle = COLORS.ttft; ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(x(ttft), pad.t); ctx.lineTo(x(ttft), hgt - pad.b); ctx.stroke();
    ctx.fillText("TTFT", x(ttft) + 2, pad.t + 8);
  }
  if (serverTps) {
    ctx.strokeStyle = COLORS.server;
    ctx.beginPath(); ctx.moveTo(pad.l, y(serverTps)); ctx.lineTo(w - pad.r, y(serverTps)); ctx.stroke();
    ctx.fillStyle = COLORS.server; ctx.fillText(`server ${serverTps.toFixed(1)}`, w - pad.r - 70, y(serverTps) - 3);
  }
  ctx.setLineDash([]); ctx.lineWidth = 1.5;
  for (let i = 1; i < series.length; i++) {
    ctx.strokeStyle = COLORS[series[i][2]] || COLORS.c;
    ctx.beginPath(); ctx.moveTo(x(series[i - 1][0]), y(series[i - 1][1])); ctx.lineTo(x(series[i][0]), y(series[i][1])); ctx.stroke();
  }
  if (entropies.length) {
    const hMax = Math.max(1, ...entropies.map((e) => e[1]));
    const yh = (v) => hgt - pad.b - (v / hMax) * (hgt - pad.t - pad.b);
    ctx.fillStyle = COLORS.entropy; ctx.globalAlpha = 0.55;
    for (const [t, v] of entropies) ctx.fillRect(x(t) - 1, yh(v), 2, hgt - pad.b - yh(v));
    ctx.globalAlpha = 1;
    ctx.fillText(`H ${hMax.toFixed(1)} nats`, w - pad.r - 62, pad.t + 8);
  }
  canvas.dataset.points = String(series.length);
  canvas.dataset.entropy = String(entropies.length);
}

function layout(model) {
  const ui = {
    root: h("div", { class: "llnb-stream", role: "region", "aria-label": "model output" }),
    title: h("span", { class: "llnb-title" }),
    status: h("span", { class: "llnb-status", "aria-live": "polite" }),
    stop: h("button", { class: "llnb-stop", type: "button", title: "Stop generating" }, "■ Stop"),
    lensBox: h("input", { type: "checkbox", class: "llnb-lens-toggle" }),
    branch: h("div", { class: "llnb-branch", role: "region", "aria-label": "branch" }),
    transcript: h("div", { class: "llnb-transcript" }),
    summary: h("summary", {}, "Thinking…"),
    thinkText: h("div", { class: "llnb-thinking-text" }),
    tools: h("div", { class: "llnb-tools" }),
    answer: h("div", { class: "llnb-answer", tabindex: "0" }),
    error: h("div", { class: "llnb-error", role: "alert" }),
    canvas: h("canvas", { class: "llnb-chart", "aria-label": "tokens per second over time" }),
    stats: h("div", { class: "llnb-stats" }),
    contextFill: h("div", { class: "llnb-context-fill" }),
    contextText: h("div", { class: "llnb-context-text" }),
    empty: h("div", { class: "llnb-empty" }, model.get("empty_text")),
  };
  ui.think = h("details", { class: "llnb-thinking", open: "" }, ui.summary, ui.thinkText);
  ui.context = h("div", { class: "llnb-context", role: "status" },
    h("div", { class: "llnb-context-bar" }, ui.contextFill), ui.contextText);
  ui.lens = h("label", { class: "llnb-lens-label", title: "Shade tokens by probability; hover or focus one for its alternatives" },
    ui.lensBox, " Token lens");
  ui.legend = h("span", { class: "llnb-lens-legend", "aria-hidden": "true" },
    ...["≥90%", "70", "50", "30", "10", "<10%"].map((t, b) => h("span", { class: "llnb-tok", "data-b": String(b) }, t)));
  ui.columns = h("div", { class: "llnb-columns" }, ui.answer, ui.branch);
  ui.root.append(h("div", { class: "llnb-head" }, ui.title, ui.status, ui.lens, ui.legend, ui.stop), ui.transcript, ui.empty,
    ui.think, ui.tools, ui.columns, ui.error, ui.context, ui.canvas, ui.stats);
  return ui;
}

function render({ model, el }) {
  const s = new StreamState(traitsOf(model));
  const ui = layout(model);
  el.append(ui.root);

  const atBottom = () => ui.answer.scrollHeight - ui.answer.scrollTop - ui.answer.clientHeight < 24;
  // Keeps the reader's scroll position unless they were already at the bottom.
  const following = (paint) => { const follow = atBottom(); paint(); if (follow) ui.answer.scrollTop = ui.answer.scrollHeight; };
  const answerPane = new LensPane(ui.answer, "content"), thinkPane = new LensPane(ui.thinkText, "thinking");
  // The lens shades tokens when it is on and the tokens cover the text shown.
  const lensOn = () => !!model.get("lens") && s.tokens.length > 0 && s.tokensComplete;
  const lens = new TokenLens(ui.root, {
    tokens: () => s.tokens,
    onBranch: (index, alternative) => model.send({ type: "branch", index, alternative }),
    canBranch: (i) => (!s.ended ? "Branch once the run has ended"
      : s.tokens[i]?.ch !== "content" ? "Branch from answer tokens" : true),
  });
  lens.attach(answerPane); lens.attach(thinkPane);
  // Text after the tokens (a server's closing of cut JSON): shown plain after them.
  function tailOf(channel, text) {
    const joined = s.tokens.filter((t) => t.ch === channel).map((t) => t.text).join("");
    return text.startsWith(joined) ? text.slice(joined.length) : null;
  }
  function paintPane(pane, box, text) {
    const tail = tailOf(pane.channel, text);
    if (tail === null) return false;
    pane.rebuild(s.tokens, tail);
    markBranchPoint();
    return true;
  }
  const showAnswer = () => following(() => {
    if (lensOn() && paintPane(answerPane, ui.answer, s.content)) return;
    ui.answer.innerHTML = markdown(s.content);
  });
  const markdownSoon = new Cadence(showAnswer, MARKDOWN_EVERY_MS);
  const chart = new Cadence(() => drawChart(ui.canvas, s.points, s.points.length ? s.points[0][0] : null,
    s.ended ? s.stats.server_tps : null, lensOn() ? entropySeries(s.tokens, s.points) : []), LIVE_EVERY_MS);
  const live = new Cadence(() => { if (s.live) { showThinking(); showStats(); } }, LIVE_EVERY_MS);

  function showText() {
    markdownSoon.cancel(); showAnswer();
    if (!(lensOn() && paintPane(thinkPane, ui.thinkText, s.thinking))) ui.thinkText.textContent = s.thinking;
    ui.root.classList.toggle("llnb-lens-on", lensOn());
  }
  // A frame's new text: new token spans with the lens on (tokens from index `from`).
  function appendText(msg, from) {
    if (lensOn()) {
      if (msg.thinking || msg.lens) thinkPane.append(s.tokens, from);
      following(() => answerPane.append(s.tokens, from));
      return;
    }
    if (msg.thinking) ui.thinkText.append(msg.thinking);
    if (!msg.content) return;
    following(() => ui.answer.append(msg.content));
    markdownSoon.soon();
  }
  // The branch column: the text before the branch point (dim), the alternative, what the
  // model wrote from there, or why it failed.
  const br = { runId: 0, seq: 0 };
  const branchText = h("span", { class: "llnb-branch-text" });
  function showBranch() {
    const b = model.get("branch_state") || {};
    const on = b.index !== undefined;
    ui.columns.classList.toggle("llnb-split", on);
    ui.branch.hidden = !on;
    markBranchPoint();
    if (!on) { ui.branch.replaceChildren(); return; }
    Object.assign(br, { runId: b.run_id || 0, seq: b.seq || 0 });
    branchText.textContent = b.content || "";
    const err = h("div", { class: "llnb-error", role: "alert" }, b.error || "");
    err.hidden = !b.error;
    ui.branch.dataset.state = b.state || "";
    ui.branch.replaceChildren(
      h("div", { class: "llnb-branch-head" }, `Branch at token ${b.index}: `, h("code", {}, JSON.stringify(b.alternative)),
        " instead of ", h("code", {}, JSON.stringify(b.original)), h("span", { class: "llnb-status" }, ` ${b.state || ""}`)),
      h("div", { class: "llnb-branch-body" }, h("span", { class: "llnb-branch-prefix" }, b.prefix || ""),
        h("mark", { class: "llnb-branch-alt" }, b.alternative || ""), branchText),
      err);
  }
  function markBranchPoint() {
    const b = model.get("branch_state") || {};
    ui.answer.querySelectorAll(".llnb-branch-point").forEach((e) => e.classList.remove("llnb-branch-point"));
    if (b.index !== undefined) ui.answer.querySelector(`.llnb-tok[data-i="${b.index}"]`)?.classList.add("llnb-branch-point");
  }
  function showThinking() {
    const head = s.thinkingHeader();
    ui.think.hidden = !head;
    if (!head) return;
    ui.summary.textContent = head.text;
    if (head.open !== null) ui.think.open = head.open;
  }
  function showStats() {
    ui.stats.replaceChildren(...s.statsStrip().map(([k, v]) => h("span", { class: "llnb-stat" }, h("b", {}, k), ` ${v}`)));
  }
  // The context fill bar, and what was cut when the prompt did not fit (set at the end).
  function showContext() {
    const c = model.get("context") || {};
    ui.context.hidden = !c.used;
    if (!c.used) return;
    ui.contextFill.style.width = `${Math.min(100, 100 * (c.fraction || 0)).toFixed(1)}%`;
    ui.context.dataset.truncated = String(!!c.truncated);
    ui.context.classList.toggle("llnb-context-cut", !!c.truncated);
    ui.context.classList.toggle("llnb-context-near", !!c.near_full);
    ui.contextText.textContent = c.message || "";
  }
  function showTools() {
    ui.tools.replaceChildren(...s.tools.map((c) => h("div", { class: "llnb-tool" },
      h("span", { class: "llnb-tool-name" }, `🔧 ${c.name}`),
      h("code", {}, JSON.stringify(c.args ?? {})))));
  }
  function showTranscript() {
    ui.transcript.replaceChildren(...(model.get("transcript") || []).map((m) => {
      const body = h("div", { class: "llnb-turn-body" });
      body.innerHTML = m.role === "user" ? escapeHtml(m.content) : markdown(m.content);
      return h("div", { class: `llnb-turn llnb-${m.role}` }, h("div", { class: "llnb-role" }, m.role), body);
    }));
  }
  // What tests and tools wait on: data-state, data-run-id, data-seq.
  function showMarks() {
    Object.assign(ui.root.dataset, { state: s.state, runId: String(s.runId), seq: String(s.seq) });
  }
  function showState() {
    showMarks();
    ui.title.textContent = model.get("model_name") || "";
    ui.status.textContent = s.statusText;
    ui.stop.hidden = !s.live;
    if (s.live) { ui.stop.disabled = false; ui.stop.textContent = "■ Stop"; }
    ui.empty.hidden = s.state !== "idle" || (model.get("transcript") || []).length > 0;
    ui.error.hidden = !s.error; ui.error.textContent = s.error;
    ui.canvas.hidden = s.chartHidden;
    showThinking();
    showStats();
  }
  function resync() {
    s.resync(traitsOf(model));
    showText(); showTools(); showState();
    if (s.ended) chart.now(); else chart.soon();
  }

  ui.think.addEventListener("toggle", () => { if (document.activeElement === ui.summary) s.readerToggled(); });
  ui.stop.addEventListener("click", () => { ui.stop.disabled = true; ui.stop.textContent = "Stopping…"; model.send({ type: "stop" }); });
  ui.lensBox.checked = !!model.get("lens");
  ui.lensBox.addEventListener("change", () => { model.set("lens", ui.lensBox.checked); model.save_changes(); });
  model.on("change:lens", () => { ui.lensBox.checked = !!model.get("lens"); lens.hide(); showText(); chart.now(); });
  model.on("change:branch_state", showBranch);
  model.on("msg:custom", (msg) => {
    if (msg?.type === "branch") { // the branch run's new text, in sequence (else the trait catches up)
      if (msg.run_id === br.runId && msg.seq === br.seq + 1) {
        br.seq = msg.seq; branchText.append(msg.content || "");
        if (msg.state) ui.branch.dataset.state = msg.state;
      }
      return;
    }
    const from = s.tokens.length;
    const outcome = s.receive(msg);
    if (outcome === "ignored" || outcome === "gap") return;
    if (s.seq === 1) showText(); else appendText(msg, from); // a new run's first frame replaces the text
    showMarks();
    if (msg.tool_calls?.length) showTools();
    if (outcome === "phase") { showThinking(); showStats(); chart.now(); } else { live.soon(); chart.soon(); }
  });
  model.on("change:seq", () => { if (s.needsResync(traitsOf(model, ["run_id", "seq"]))) resync(); });
  model.on("change:state", () => {
    s.update({ state: model.get("state") });
    if (s.ended || s.state === "idle") resync(); else showState();
  });
  for (const name of ["stats", "stats_rows", "error"]) {
    model.on(`change:${name}`, () => { s.update(traitsOf(model, [name])); showState(); });
  }
  model.on("change:transcript", () => { showTranscript(); showState(); });
  model.on("change:context", showContext);
  model.on("change:empty_text", () => { ui.empty.textContent = model.get("empty_text"); });
  showTranscript();
  showContext();
  showBranch();
  resync();
  return () => { markdownSoon.cancel(); chart.cancel(); live.cancel(); lens.hide(); };
}

export default { render };
