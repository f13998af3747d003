// EmbeddingExplorer: heatmap (<= 50 texts), 2-D map drawn on a canvas, hover, click for
// neighbours (the kernel ranks them in the original space), box selection, query box.
import { cut, h } from "./shared.js";

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

function render({ model, el }) {
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

export default { render };
