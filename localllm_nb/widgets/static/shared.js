// What every localllm_nb view shares: DOM building, escaping, the Markdown subset,
// text cutting, the token-rate series and a render cadence. No DOM state of its own.
//
// Python joins this module in front of each view's module (widgets/_esm.py), so a view's
// `import { ... } from "./shared.js"` lines are dropped there: no build step, no CDN.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) =>
    ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// Small Markdown subset for model output, which can never inject markup: every piece of
// source text is escaped before it is wrapped, and the only tags made are p, pre, code,
// strong, em, h3-h6, ul and li, without attributes. Fenced code (an open fence is
// closed, as a streaming answer has one), inline code, bold, italic, headings, lists.
export function markdown(src) {
  src = String(src);
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

// One line: code spans are cut out first (their text stays literal), and each emphasis
// level wraps whole pieces of text whose inside is handled apart, so the tags made are
// always well nested, whatever stars the model writes.
function inline(text) {
  const codes = [];
  const marked = text.replace(/\u0000/g, "\uFFFD")
    .replace(/`([^`]+)`/g, (_, code) => `\u0000${codes.push(code) - 1}\u0000`);
  return emphasis(escapeHtml(marked))
    .replace(/\u0000(\d+)\u0000/g, (_, i) => `<code>${escapeHtml(codes[i])}</code>`);
}

const EMPHASIS = [ // ***both***, **bold**, *italic*: an opening star is never followed by a space
  [/\*\*\*(?=[^*\s])([^*]+?)\*\*\*/, (t) => `<em><strong>${t}</strong></em>`],
  [/\*\*(?=[^*\s])(.+?)\*\*/, (t) => `<strong>${t}</strong>`],
  [/\*(?=[^*\s])([^*]+?)\*/, (t) => `<em>${t}</em>`],
];

function emphasis(text, level = 0) {
  if (level === EMPHASIS.length) return text;
  const [pattern, wrap] = EMPHASIS[level];
  return text.split(pattern).map((piece, i) => (i % 2 === 1
    ? wrap(emphasis(piece, level + 1))
    : emphasis(piece, level + 1))).join("");
}

export function cut(text, n) { return text.length > n ? `${text.slice(0, n - 1)}…` : text; }

// tokens/s over a moving window of chunks, as the Python side's run.stats.rate_series
// does: points are [t, tokens so far, channel]; each rate carries its point's channel.
export function rates(points, window = 8) {
  const out = [];
  for (let i = 1; i < points.length; i++) {
    const j = Math.max(0, i - window);
    const dt = points[i][0] - points[j][0];
    if (dt > 0) out.push([points[i][0], (points[i][1] - points[j][1]) / dt, points[i][2]]);
  }
  return out;
}

// The smallest 1, 2, 2.5 or 5 times a power of ten at or above v (an axis' end).
export function niceCeil(v) {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}

// Runs `fn` at most once per `ms`: `soon()` schedules it unless already scheduled, `now()`
// runs it at once (dropping a scheduled call), `cancel()` drops a scheduled call. On two
// cores the browser's painting competes with the model for the CPU, so views repaint the
// costly parts on a cadence rather than per message (benchmarks/bench_widgets.py).
export class Cadence {
  constructor(fn, ms) { this.fn = fn; this.ms = ms; this.timer = null; }
  soon() {
    if (this.timer === null) this.timer = setTimeout(() => { this.timer = null; this.fn(); }, this.ms);
  }
  now() { this.cancel(); this.fn(); }
  cancel() { clearTimeout(this.timer); this.timer = null; }
  get pending() { return this.timer !== null; }
}
