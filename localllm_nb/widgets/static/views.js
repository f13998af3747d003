// localllm_nb views: one hand-written module for every view (no CDN, no imports).
// A view's Python class sets the `_kind` trait; render() dispatches on it.
//
// Streaming protocol (StreamView): the kernel sends custom messages
//   {type: "frame", run_id, seq, status, content, thinking, points, tool_calls, final, ...}
// holding only what is new since the previous frame, and commits the whole text to the
// `content`/`thinking`/`seq` traits about once a second and at the end. A view appends
// frames in sequence; after a gap (or a page reload) it waits for the next commit.

const STATES = { cancelled: "stopped" };
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
  let userToggled = false, mdTimer = null, chartTimer = null;

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
  const empty = h("div", { class: "llnb-empty" }, "No run yet: call view.run(prompt).");
  root.append(h("div", { class: "llnb-head" }, title, status, stop), transcript, empty, think, toolBox, answer, error, canvas, stats);
  el.append(root);
  think.addEventListener("toggle", () => { if (document.activeElement === thinkSummary) userToggled = true; });
  stop.addEventListener("click", () => { stop.disabled = true; stop.textContent = "Stopping…"; model.send({ type: "stop" }); });

  const atBottom = () => answer.scrollHeight - answer.scrollTop - answer.clientHeight < 24;
  // Live text: new pieces are appended as plain text at once; the whole answer is
  // rendered as Markdown at most every 300 ms and at the end (no flicker per frame).
  function renderMarkdown() {
    mdTimer = null;
    const follow = atBottom();
    answer.innerHTML = markdown(content);
    if (follow) answer.scrollTop = answer.scrollHeight;
  }
  function showText(final, delta) {
    const follow = atBottom();
    if (final || delta === undefined) {
      clearTimeout(mdTimer); mdTimer = null;
      answer.innerHTML = markdown(content);
    } else if (delta) {
      answer.append(delta);
      if (!mdTimer) mdTimer = setTimeout(renderMarkdown, 300);
    }
    if (follow) answer.scrollTop = answer.scrollHeight;
    thinkText.textContent = thinking;
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
    if (final) { clearTimeout(chartTimer); draw(); } else if (!chartTimer) chartTimer = setTimeout(draw, 200);
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
    showText(false, msg.content);
    if (msg.tool_calls.length) showTools();
    showChart(false);
    thinkingHeader(root.dataset.state);
    showStats(root.dataset.state);
  });
  // Committed state: the truth after a gap, a reload, or the end of a run.
  model.on("change:seq", () => { if (waiting || model.get("seq") >= seq || model.get("run_id") !== runId) resync(); });
  model.on("change:state", () => { const s = model.get("state"); if (["done", "stopped", "error", "idle"].includes(s)) resync(); else showState(); });
  model.on("change:stats", () => showState());
  model.on("change:error", () => showState());
  model.on("change:transcript", () => { showTranscript(); showState(); });
  showTranscript();
  resync();
  return () => { clearTimeout(mdTimer); clearTimeout(chartTimer); };
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
