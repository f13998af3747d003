// localllm_nb views: one hand-written module for every view (no CDN, no imports).
// A view's Python class sets the `_kind` trait; render() dispatches on it.
//
// Streaming protocol (StreamView): the kernel sends custom messages
//   {type: "frame", run_id, seq, status, content, thinking, points, tool_calls, final, ...}
// holding only what is new since the previous frame, and commits the whole text to the
// `content`/`thinking`/`seq` traits about once a second and at the end. A view appends
// frames in sequence; after a gap (or a page reload) it waits for the next commit.

const STATES = { cancelled: "stopped" };
const MARKDOWN_EVERY_MS = 1000;
const LIVE_EVERY_MS = 500;
const COLORS = { c: "#1f77b4", t: "#ff7f0e", server: "#2ca02c", ttft: "#888" };

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

function escapeHtml(text) {
  return text.replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Small Markdown subset, escaped first so model text can never inject markup:
// fenced code (an open fence is closed), inline code, bold, italic, headings, lists.
export function markdown(src) {
  const fences = (src.match(/^```/gm) || []).length;
  if (fences % 2 === 1) src += "\n```";
  const out = [];
  const parts = src.split(/^```[^\n]*\n?/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      out.push(`<pre><code>${escapeHtml(part.replace(/\n$/, ""))}</code></pre>`);
      return;
    }
    let list = null;
    for (const line of part.split("\n")) {
      const item = line.match(/^\s*(?:[-*+]|\d+[.)])\s+(.*)$/);
      if (item) {
        if (!list) { list = []; out.push(list); }
        list.push(inline(item[1]));
        continue;
      }
      list = null;
      const head = line.match(/^(#{1,4})\s+(.*)$/);
      if (head) out.push(`<h${head[1].length + 2}>${inline(head[2])}</h${head[1].length + 2}>`);
      else if (line.trim()) out.push(`<p>${inline(line)}</p>`);
    }
  });
  return out.map((b) => (Array.isArray(b) ? `<ul>${b.map((x) => `<li>${x}</li>`).join("")}</ul>` : b)).join("");
}

function inline(text) {
  return escapeHtml(text)
    .replace(/`([^`]+)`/g, "<code>$1</code>")
    .replace(/\*\*([^*]+)\*\*/g, "<strong>$1</strong>")
    .replace(/(^|[^*])\*([^*\s][^*]*)\*/g, "$1<em>$2</em>");
}

// tokens/s over a moving window of chunks, as the Python side's rate_series does.
export function rates(points, window = 8) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const j = Math.max(0, i - window);
    const dt = points[i][0] - points[j][0];
    if (dt > 0) out.push([points[i][0], (points[i][1] - points[j][1]) / dt, points[i][2]]);
  }
  return out;
}

function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

function drawChart(canvas, points, ttft, serverTps) {
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
  canvas.dataset.points = String(series.length);
}

function fmt(v, digits = 2, unit = "") {
  return v == null ? "–" : `${Number(v).toFixed(digits)}${unit}`;
}

function statsRows(stats) {
  const rows = [
    ["TTFT", fmt(stats.ttft_s, 2, " s")],
    ["tokens/s", `${fmt(stats.client_tps, 1)} (server ${fmt(stats.server_tps, 1)})`],
    ["prompt tok/s", fmt(stats.prompt_tps, 1)],
    ["tokens", stats.tokens == null ? "–" : String(stats.tokens)],
    ["load", fmt(stats.load_s, 2, " s")],
    ["done", stats.done_reason || "–"],
  ];
  if (stats.peak_memory_gb != null) rows.push(["peak memory", fmt(stats.peak_memory_gb, 2, " GB")]);
  return rows;
}

function renderStream({ model, el }) {
  let runId = model.get("run_id"), seq = model.get("seq");
  let content = model.get("content"), thinking = model.get("thinking");
  let points = (model.get("points") || []).slice(), tools = (model.get("tool_calls") || []).slice();
  let waiting = false; // a gap: wait for the next committed state
  let userToggled = false, mdTimer = null, chartTimer = null, liveTimer = null;

  const root = h("div", { class: "llnb-stream", role: "region", "aria-label": "model output" });
  const title = h("span", { class: "llnb-title" });
  const status = h("span", { class: "llnb-status", "aria-live": "polite" });
  const stop = h("button", { class: "llnb-stop", type: "button", title: "Stop generating" }, "■ Stop");
  const transcript = h("div", { class: "llnb-transcript" });
  const thinkSummary = h("summary", {}, "Thinking…");
  const thinkText = h("div", { class: "llnb-thinking-text" });
  const think = h("details", { class: "llnb-thinking", open: "" }, thinkSummary, thinkText);
  const toolBox = h("div", { class: "llnb-tools" });
  const answer = h("div", { class: "llnb-answer", tabindex: "0" });
  const error = h("div", { class: "llnb-error", role: "alert" });
  const canvas = h("canvas", { class: "llnb-chart", "aria-label": "tokens per second over time" });
  const stats = h("div", { class: "llnb-stats" });
  const empty = h("div", { class: "llnb-empty" }, model.get("empty_text"));
  model.on("change:empty_text", () => { empty.textContent = model.get("empty_text"); });
  root.append(h("div", { class: "llnb-head" }, title, status, stop), transcript, empty, think, toolBox, answer, error, canvas, stats);
  el.append(root);
  think.addEventListener("toggle", () => { if (document.activeElement === thinkSummary) userToggled = true; });
  stop.addEventListener("click", () => { stop.disabled = true; stop.textContent = "Stopping…"; model.send({ type: "stop" }); });

  const atBottom = () => answer.scrollHeight - answer.scrollTop - answer.clientHeight < 24;
  // Live text: new pieces are appended as plain text at once; the whole answer is
  // rendered as Markdown at most once a second and at the end, and the chart, the stats
  // strip and the thinking header at most twice a second: on two cores the browser's
  // painting competes with the model for the CPU (benchmarks/bench_widgets.py).
  function renderMarkdown() {
    mdTimer = null;
    const follow = atBottom();
    answer.innerHTML = markdown(content);
    if (follow) answer.scrollTop = answer.scrollHeight;
  }
  function showText(final, delta, thinkingDelta) {
    const follow = atBottom();
    if (final || delta === undefined) {
      clearTimeout(mdTimer); mdTimer = null;
      answer.innerHTML = markdown(content);
      thinkText.textContent = thinking;
    } else {
      if (delta) answer.append(delta);
      if (thinkingDelta) thinkText.append(thinkingDelta);
      if (delta && !mdTimer) mdTimer = setTimeout(renderMarkdown, MARKDOWN_EVERY_MS);
    }
    if (follow && (delta || final || delta === undefined)) answer.scrollTop = answer.scrollHeight;
  }
  function thinkingHeader(state) {
    const tp = points.filter((p) => p[2] === "t");
    if (!thinking) { think.hidden = true; return; }
    think.hidden = false;
    const answering = content.length > 0 || ["done", "stopped", "error"].includes(state);
    if (answering) {
      const secs = tp.length ? tp[tp.length - 1][0] - (points[0] ? points[0][0] : 0) : 0;
      thinkSummary.textContent = `Thought for ${secs.toFixed(1)} s · ${tp.length} tokens`;
      if (!userToggled) think.open = false;
    } else {
      thinkSummary.textContent = `Thinking… ${tp.length} tokens`;
      if (!userToggled) think.open = true;
    }
  }
  function showTools() {
    toolBox.replaceChildren(...tools.map((c) => h("div", { class: "llnb-tool" },
      h("span", { class: "llnb-tool-name" }, `🔧 ${c.name}`),
      h("code", {}, JSON.stringify(c.args ?? {})))));
  }
  function showChart(final) {
    const s = model.get("stats") || {};
    const draw = () => { chartTimer = null; drawChart(canvas, points, points.length ? points[0][0] : null, final ? s.server_tps : null); };
    if (final) { clearTimeout(chartTimer); draw(); } else if (!chartTimer) chartTimer = setTimeout(draw, LIVE_EVERY_MS);
  }
  function showLive() { // the chart, the stats strip and the thinking header, while a run streams
    if (liveTimer) return;
    liveTimer = setTimeout(() => {
      liveTimer = null;
      if (!["running", "pending"].includes(root.dataset.state)) return;
      thinkingHeader(root.dataset.state);
      showStats(root.dataset.state);
    }, LIVE_EVERY_MS);
  }
  function showStats(state) {
    const s = model.get("stats") || {};
    if (state === "error" && !points.length) stats.replaceChildren();
    else if (["done", "stopped", "error"].includes(state) && Object.keys(s).length) {
      stats.replaceChildren(...statsRows(s).map(([k, v]) => h("span", { class: "llnb-stat" }, h("b", {}, k), ` ${v}`)));
    } else if (points.length) {
      const last = points[points.length - 1], first = points[0];
      const tps = last[0] > first[0] ? (last[1] - first[1]) / (last[0] - first[0]) : 0;
      stats.replaceChildren(h("span", { class: "llnb-stat" }, h("b", {}, "TTFT"), ` ${first[0].toFixed(2)} s`),
        h("span", { class: "llnb-stat" }, h("b", {}, "tokens"), ` ${last[1]}`),
        h("span", { class: "llnb-stat" }, h("b", {}, "tokens/s"), ` ${tps.toFixed(1)}`));
    } else stats.replaceChildren();
  }
  function showTranscript() {
    const turns = model.get("transcript") || [];
    transcript.replaceChildren(...turns.map((m) => {
      const body = h("div", { class: "llnb-turn-body" });
      body.innerHTML = m.role === "user" ? escapeHtml(m.content) : markdown(m.content);
      return h("div", { class: `llnb-turn llnb-${m.role}` }, h("div", { class: "llnb-role" }, m.role), body);
    }));
  }
  function showState() {
    const state = model.get("state");
    const live = state === "running" || state === "pending";
    root.dataset.state = state;
    root.dataset.runId = String(runId);
    root.dataset.seq = String(seq);
    title.textContent = model.get("model_name") || "";
    status.textContent = { idle: "", pending: "loading model…", running: "generating…", done: "done", stopped: "stopped", error: "error" }[state] || state;
    stop.hidden = !live;
    if (live) { stop.disabled = false; stop.textContent = "■ Stop"; }
    empty.hidden = state !== "idle" || (model.get("transcript") || []).length > 0;
    const message = model.get("error");
    error.hidden = !message; error.textContent = message || "";
    canvas.hidden = state === "idle" || (state === "error" && points.length < 2);
    thinkingHeader(state);
    showStats(state);
  }
  function resync() {
    runId = model.get("run_id"); seq = model.get("seq");
    content = model.get("content"); thinking = model.get("thinking");
    points = (model.get("points") || []).slice(); tools = (model.get("tool_calls") || []).slice();
    waiting = false;
    const final = ["done", "stopped", "error"].includes(model.get("state"));
    showText(true); showTools(); showChart(final); showState();
  }

  model.on("msg:custom", (msg) => {
    if (msg.type !== "frame") return;
    if (msg.run_id !== runId) {
      if (msg.seq !== 1) { waiting = true; return; }
      runId = msg.run_id; seq = 0; content = ""; thinking = ""; points = []; tools = []; userToggled = false;
      waiting = false;
    }
    if (waiting || msg.seq <= seq) return;
    if (msg.seq !== seq + 1) { waiting = true; return; }
    seq = msg.seq;
    content += msg.content; thinking += msg.thinking;
    for (const p of msg.points) points.push(p);
    for (const c of msg.tool_calls) tools.push(c);
    root.dataset.state = STATES[msg.status] || msg.status;
    root.dataset.runId = String(runId);
    root.dataset.seq = String(seq);
    const firstAnswer = msg.content && content.length === msg.content.length;
    showText(false, msg.content, msg.thinking);
    if (msg.tool_calls.length) showTools();
    showChart(false);
    if (msg.seq === 1 || firstAnswer) { thinkingHeader(root.dataset.state); showStats(root.dataset.state); } else showLive();
  });
  // Committed state: the truth after a gap, a reload, or the end of a run.
  model.on("change:seq", () => { if (waiting || model.get("seq") >= seq || model.get("run_id") !== runId) resync(); });
  model.on("change:state", () => { const s = model.get("state"); if (["done", "stopped", "error", "idle"].includes(s)) resync(); else showState(); });
  model.on("change:stats", () => showState());
  model.on("change:error", () => showState());
  model.on("change:transcript", () => { showTranscript(); showState(); });
  showTranscript();
  resync();
  return () => { clearTimeout(mdTimer); clearTimeout(chartTimer); clearTimeout(liveTimer); };
}

function renderPrompt({ model, el }) {
  const area = h("textarea", { class: "llnb-prompt-input", rows: "3", "aria-label": "prompt", placeholder: model.get("placeholder") });
  const send = h("button", { class: "llnb-send", type: "button" }, "Send ⏎");
  const hint = h("div", { class: "llnb-hint" }, "Enter to send · Shift+Enter for a new line");
  const submit = () => {
    const text = area.value;
    if (!text.trim() || model.get("disabled")) return;
    model.send({ type: "send", text });
    area.value = "";
  };
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    e.stopPropagation(); // keep JupyterLab's own shortcuts out of the prompt box
  });
  send.addEventListener("click", submit);
  const sync = () => { send.disabled = model.get("disabled"); area.placeholder = model.get("placeholder"); };
  model.on("change:disabled", sync); model.on("change:placeholder", sync);
  sync();
  el.append(h("div", { class: "llnb-prompt" }, area, h("div", { class: "llnb-prompt-bar" }, hint, send)));
}

function renderCode({ model, el }) {
  const code = h("pre", { class: "llnb-code", tabindex: "0" });
  const copy = h("button", { class: "llnb-copy", type: "button" }, "Copy");
  copy.addEventListener("click", async () => {
    try { await navigator.clipboard.writeText(model.get("code")); copy.textContent = "Copied"; }
    catch { const r = document.createRange(); r.selectNodeContents(code); const s = getSelection(); s.removeAllRanges(); s.addRange(r); copy.textContent = "Selected: press Ctrl+C"; }
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
  });
  const sync = () => { code.textContent = model.get("code"); };
  model.on("change:code", sync); sync();
  el.append(h("div", { class: "llnb-codebox" }, copy, code));
}

const VIEWS = { stream: renderStream, prompt: renderPrompt, code: renderCode };

export default {
  render(ctx) {
    const view = VIEWS[ctx.model.get("_kind")];
    if (!view) { ctx.el.textContent = `unknown localllm_nb view ${ctx.model.get("_kind")}`; return; }
    return view(ctx);
  },
};

// ==== Widgets II: Compare/Sweep bar and EmbeddingExplorer (appended; same helpers) ====

const COMPARE_ROWS = [
  ["ttft_s", "TTFT", 2, " s"], ["client_tps", "tokens/s", 1, ""], ["server_tps", "server tok/s", 1, ""],
  ["tokens", "tokens", 1, ""], ["duration_s", "total", 2, " s"], ["load_s", "load", 2, " s"],
];

function spreadText(s, name, digits, unit) {
  const mean = s[name], std = s[`${name}_std`];
  if (mean == null) return "–";
  if (name === "tokens" && std == null) digits = 0; // one run: a count, not a mean
  return `${Number(mean).toFixed(digits)}${std != null ? ` ± ${Number(std).toFixed(digits)}` : ""}${unit}`;
}

// The bar above a comparison's columns: figures per column (best highlighted), mode, Stop all.
function renderCompare({ model, el }) {
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
    const rows = COMPARE_ROWS.map(([name, label, digits, unit]) => h("tr", {}, h("th", { scope: "row" }, label),
      ...summary.map((s) => {
        const isBest = best[name] === s.column && summary.length > 1;
        return h("td", { class: isBest ? "llnb-best" : "", "data-figure": name, "data-column": String(s.column), title: isBest ? "best" : "" }, spreadText(s, name, digits, unit));
      })));
    const done = h("tr", {}, h("th", { scope: "row" }, "done"), ...summary.map((s) => h("td", { "data-figure": "done_reason" }, s.done_reason || "–")));
    table.replaceChildren(head, ...rows, done);
  }
  for (const name of ["state", "summary", "best", "mode", "progress", "title"]) model.on(`change:${name}`, show);
  show();
}

Object.assign(VIEWS, { compare: renderCompare });

// --- EmbeddingExplorer: heatmap (<= 50 texts), 2-D map drawn on a canvas, hover, click for
// neighbours (the kernel ranks them in the original space), box selection, query box.
const PALETTE = ["#9e9e9e", "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

function bytesOf(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}
function typed(v, Type) { const b = bytesOf(v); return new Type(b.slice().buffer); } // copy: aligned

function heatColor(v) { // viridis-like ramp from 0 to 1
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const t = Math.max(0, Math.min(1, v)) * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(t)), f = t - i;
  const c = stops[i].map((a, j) => Math.round(a + (stops[i + 1][j] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}
function cut(text, n) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

function renderExplorer({ model, el }) {
  const t0 = performance.now();
  const n = model.get("count");
  const xy = typed(model.get("xy"), Float32Array);
  const codes = typed(model.get("codes"), Uint16Array);
  const texts = new TextDecoder().decode(bytesOf(model.get("texts"))).split("\0");
  const names = model.get("label_names") || [];
  const color = (i) => PALETTE[codes[i] ? 1 + ((codes[i] - 1) % (PALETTE.length - 1)) : 0];

  const root = h("div", { class: "llnb-explorer", role: "region", "aria-label": "embedding explorer", "data-state": "ready", "data-points": String(n) });
  const note = h("div", { class: "llnb-explorer-note" });
  const input = h("input", { class: "llnb-query", type: "text", placeholder: "Type a sentence and press Enter to see where it lands", "aria-label": "query" });
  const ask = h("button", { class: "llnb-send", type: "button" }, "Find");
  const error = h("div", { class: "llnb-error", role: "alert" });
  const heat = h("canvas", { class: "llnb-heatmap", "aria-label": "cosine similarity heatmap" });
  const mapBox = h("div", { class: "llnb-map-box" });
  const canvas = h("canvas", { class: "llnb-map", tabindex: "0", "aria-label": "2-D map of the texts: hover to read, click for neighbours, drag to select" });
  const tip = h("div", { class: "llnb-tip", role: "tooltip" });
  const boxEl = h("div", { class: "llnb-box" });
  mapBox.append(canvas, tip, boxEl);
  const legend = h("div", { class: "llnb-legend" });
  const side = h("div", { class: "llnb-neighbors", "aria-live": "polite" });
  const selInfo = h("div", { class: "llnb-selinfo" });
  root.append(h("div", { class: "llnb-head" }, h("span", { class: "llnb-title" }, model.get("title"))), note,
    h("div", { class: "llnb-query-bar" }, input, ask), error, heat,
    h("div", { class: "llnb-explorer-body" }, h("div", {}, mapBox, legend, selInfo), side));
  el.append(root);
  tip.hidden = true; boxEl.hidden = true;

  const hm = model.get("heatmap") || [];
  if (hm.length) note.textContent = "Cosine similarity of every pair (hover a cell), then the 2-D map (PCA).";
  else note.textContent = `${n} texts: too many for a readable heatmap (up to 50), so the 2-D map (PCA) and neighbour lists instead.`;
  heat.hidden = !hm.length;
  legend.replaceChildren(...names.slice(0, 30).map((name, i) => h("span", { class: "llnb-legend-item" },
    h("span", { class: "llnb-swatch", style: `background:${PALETTE[1 + (i % (PALETTE.length - 1))]}` }), cut(name, 24))));

  // Heatmap with row labels (texts) and column numbers.
  function drawHeat() {
    if (!hm.length) return;
    const m = Math.round(Math.sqrt(hm.length)), cell = Math.max(8, Math.min(22, Math.floor(520 / m)));
    const left = 190, top = 18, dpr = window.devicePixelRatio || 1;
    const w = left + m * cell + 8, hh = top + m * cell + 4;
    heat.style.width = `${w}px`; heat.style.height = `${hh}px`; heat.width = w * dpr; heat.height = hh * dpr;
    const ctx = heat.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = `${Math.min(12, cell - 2)}px sans-serif`; ctx.textBaseline = "middle"; ctx.fillStyle = "#444";
    for (let i = 0; i < m; i++) {
      ctx.fillStyle = "#444"; ctx.textAlign = "right";
      ctx.fillText(cut(`${i} ${texts[i]}`, 30), left - 4, top + i * cell + cell / 2);
      ctx.textAlign = "center"; ctx.fillText(String(i), left + i * cell + cell / 2, top / 2);
      for (let j = 0; j < m; j++) { ctx.fillStyle = heatColor(hm[i * m + j]); ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1); }
    }
    heat.onmousemove = (e) => {
      const r = heat.getBoundingClientRect(), j = Math.floor((e.clientX - r.left - left) / cell), i = Math.floor((e.clientY - r.top - top) / cell);
      heat.title = i >= 0 && j >= 0 && i < m && j < m ? `${cut(texts[i], 60)}\n${cut(texts[j], 60)}\ncosine ${hm[i * m + j].toFixed(3)}` : "";
    };
  }

  // Map: screen coordinates computed once per size; a grid of cells finds the hovered point.
  let W = 0, H = 0, sx = new Float32Array(n), sy = new Float32Array(n), grid = new Map();
  const GRID = 10, pad = 12;
  let bounds = null;
  function layout() {
    W = Math.max(320, Math.min(760, (mapBox.clientWidth || 560))); H = Math.round(W * 0.72);
    const dpr = window.devicePixelRatio || 1;
    canvas.style.width = `${W}px`; canvas.style.height = `${H}px`; canvas.width = W * dpr; canvas.height = H * dpr;
    if (!bounds) {
      let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
      for (let i = 0; i < n; i++) { const x = xy[2 * i], y = xy[2 * i + 1]; if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
      bounds = { x0, x1: x1 > x0 ? x1 : x0 + 1, y0, y1: y1 > y0 ? y1 : y0 + 1 };
    }
    grid = new Map();
    for (let i = 0; i < n; i++) {
      sx[i] = toX(xy[2 * i]); sy[i] = toY(xy[2 * i + 1]);
      const key = Math.floor(sx[i] / GRID) * 4096 + Math.floor(sy[i] / GRID);
      let b = grid.get(key); if (!b) grid.set(key, (b = [])); b.push(i);
    }
  }
  const toX = (x) => pad + ((x - bounds.x0) / (bounds.x1 - bounds.x0)) * (W - 2 * pad);
  const toY = (y) => H - pad - ((y - bounds.y0) / (bounds.y1 - bounds.y0)) * (H - 2 * pad);
  function pick(px, py, radius = 6) {
    let best = -1, bd = radius * radius;
    const cx = Math.floor(px / GRID), cy = Math.floor(py / GRID);
    for (let gx = cx - 1; gx <= cx + 1; gx++) for (let gy = cy - 1; gy <= cy + 1; gy++) {
      for (const i of grid.get(gx * 4096 + gy) || []) { const d = (sx[i] - px) ** 2 + (sy[i] - py) ** 2; if (d <= bd) { bd = d; best = i; } }
    }
    return best;
  }
  let selected = new Set(model.get("selection") || []);
  function draw() {
    const ctx = canvas.getContext("2d"), dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, W, H);
    const focus = model.get("focus"), neighbors = model.get("neighbors") || [], query = model.get("query") || {};
    const near = new Set(neighbors.map((r) => r.index));
    const dim = focus >= 0 || query.text != null;
    const size = n > 20000 ? 1.5 : n > 2000 ? 2.5 : 5;
    // Batch by colour: one fillStyle per colour and pass.
    const byColor = new Map();
    for (let i = 0; i < n; i++) { const c = color(i); let a = byColor.get(c); if (!a) byColor.set(c, (a = [])); a.push(i); }
    ctx.globalAlpha = dim ? 0.15 : n > 20000 ? 0.5 : 0.8;
    for (const [c, idx] of byColor) { ctx.fillStyle = c; for (const i of idx) ctx.fillRect(sx[i] - size / 2, sy[i] - size / 2, size, size); }
    ctx.globalAlpha = 1;
    if (selected.size) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1; for (const i of selected) ctx.strokeRect(sx[i] - 2.5, sy[i] - 2.5, 5, 5); }
    for (const i of near) { ctx.fillStyle = color(i); ctx.beginPath(); ctx.arc(sx[i], sy[i], 4.5, 0, 7); ctx.fill(); ctx.strokeStyle = "#111"; ctx.stroke(); }
    if (focus >= 0) { ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2.5; ctx.beginPath(); ctx.arc(sx[focus], sy[focus], 7, 0, 7); ctx.stroke(); }
    if (query.text != null) {
      const qx = toX(query.x), qy = toY(query.y);
      ctx.fillStyle = "#d62728"; ctx.font = "18px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.fillText("★", qx, qy);
    }
    canvas.dataset.drawn = String(n);
  }
  function showNeighbors() {
    const focus = model.get("focus"), rows = model.get("neighbors") || [], query = model.get("query") || {};
    root.dataset.focus = String(focus);
    if (focus < 0 && query.text == null) { side.replaceChildren(h("div", { class: "llnb-empty" }, "Click a point (or type a query) to list its nearest neighbours.")); return; }
    const about = query.text != null ? `your query “${cut(query.text, 80)}”` : `“${cut(texts[focus], 80)}”`;
    side.replaceChildren(h("div", { class: "llnb-neighbors-title" }, `Nearest to ${about} (cosine, original space)`),
      h("ol", {}, ...rows.map((r) => {
        const li = h("li", { class: "llnb-neighbor", tabindex: "0", "data-index": String(r.index) },
          h("code", {}, r.score.toFixed(3)), " ", cut(r.text, 160), r.label ? h("i", {}, ` [${r.label}]`) : "");
        const go = () => model.send({ type: "focus", index: r.index });
        li.addEventListener("click", go); li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
        return li;
      })));
  }
  function showError() { const m = model.get("error"); error.hidden = !m; error.textContent = m || ""; }
  function showSelection() { selInfo.textContent = selected.size ? `${selected.size} selected (explorer.selection) · drag to select again, click empty space to clear` : "Drag a box to select points (explorer.selection)."; }

  // Mouse: hover reads a text, a click focuses, a drag draws a selection box.
  let drag = null;
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  canvas.addEventListener("mousemove", (e) => {
    const [px, py] = local(e);
    if (drag) {
      drag.x1 = px; drag.y1 = py;
      if (Math.abs(px - drag.x0) + Math.abs(py - drag.y0) > 4) {
        boxEl.hidden = false;
        Object.assign(boxEl.style, { left: `${Math.min(drag.x0, px)}px`, top: `${Math.min(drag.y0, py)}px`, width: `${Math.abs(px - drag.x0)}px`, height: `${Math.abs(py - drag.y0)}px` });
      }
      return;
    }
    const i = pick(px, py);
    if (i < 0) { tip.hidden = true; root.dataset.hover = "-1"; return; }
    root.dataset.hover = String(i);
    tip.replaceChildren(h("div", {}, texts[i]), codes[i] ? h("div", { class: "llnb-tip-label" }, names[codes[i] - 1]) : "");
    tip.hidden = false;
    tip.style.left = `${Math.min(px + 12, W - 240)}px`; tip.style.top = `${py + 12}px`;
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  canvas.addEventListener("mousedown", (e) => { const [px, py] = local(e); drag = { x0: px, y0: py, x1: px, y1: py }; });
  window.addEventListener("mouseup", onUp);
  function onUp() {
    if (!drag) return;
    const d = drag; drag = null; boxEl.hidden = true;
    if (Math.abs(d.x1 - d.x0) + Math.abs(d.y1 - d.y0) > 4) {
      const [ax, bx] = [Math.min(d.x0, d.x1), Math.max(d.x0, d.x1)], [ay, by] = [Math.min(d.y0, d.y1), Math.max(d.y0, d.y1)];
      const idx = [];
      for (let i = 0; i < n; i++) if (sx[i] >= ax && sx[i] <= bx && sy[i] >= ay && sy[i] <= by) idx.push(i);
      selected = new Set(idx); model.set("selection", idx); model.save_changes();
    } else {
      const i = pick(d.x0, d.y0);
      if (i < 0 && selected.size) { selected = new Set(); model.set("selection", []); model.save_changes(); }
      model.send({ type: "focus", index: i });
    }
    showSelection(); draw();
  }
  const submit = () => { const text = input.value.trim(); if (text) model.send({ type: "query", text }); };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); submit(); } e.stopPropagation(); });
  ask.addEventListener("click", submit);
  canvas.addEventListener("keydown", (e) => { if (e.key === "Escape") model.send({ type: "focus", index: -1 }); });

  model.on("change:focus", () => { draw(); showNeighbors(); });
  model.on("change:neighbors", () => { draw(); showNeighbors(); });
  model.on("change:query", () => { draw(); showNeighbors(); });
  model.on("change:error", showError);
  model.on("change:selection", () => { selected = new Set(model.get("selection") || []); showSelection(); draw(); });
  drawHeat(); showNeighbors(); showError(); showSelection();
  // Lay out once the element is in the page (its width is known then).
  requestAnimationFrame(() => {
    layout(); draw();
    root.dataset.renderMs = String(Math.round(performance.now() - t0));
    root.dataset.state = "drawn";
  });
  canvas.llnbScreen = (i) => [sx[i], sy[i]]; // where point i is drawn (for tests and tools)
  return () => window.removeEventListener("mouseup", onUp);
}

Object.assign(VIEWS, { explorer: renderExplorer });
