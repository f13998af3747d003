// EmbeddingExplorer: heatmap (<= 50 texts) with a colour scale, then the 2-D map drawn
// with WebGL: drag to pan (or to draw a box or lasso), wheel or +/- to zoom, hover to
// read (texts come from the kernel on demand), click for neighbours (the kernel ranks
// them in the original space), search, legend that hides labels, query box.
import { cut, h } from "./shared.js";
import { FULL_VIEW, buildGrid, hexRgb, makeRenderer, nearest, panBy, ramp, zoomAt } from "./explorer_map.js";

function bytesOf(v) {
  if (!v) return new Uint8Array(0);
  if (v instanceof DataView) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  if (v instanceof ArrayBuffer) return new Uint8Array(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  return new Uint8Array(0);
}
function typed(v, Type) { const b = bytesOf(v); return new Type(b.slice().buffer); } // copy: aligned
const css = (rgb) => `rgb(${rgb[0]},${rgb[1]},${rgb[2]})`;

// A display update (the saved snapshot) makes JupyterLab create a new view of the same
// model. What a view builds is kept per model, so a new view costs a copy of the last
// picture, not a second decode or a full frame (a million points in software WebGL take
// ~1 s): the decoded map and its grid, the texts known, hidden labels, the renderer with
// its colours and what it last drew, the picture last sent to the kernel. The key is
// the model's map buffer: anywidget gives each view its own proxy of the model, but the
// buffer is one object until the map changes.
const decoded = new WeakMap();

function render({ model, el, signal }) {
  const t0 = performance.now();
  const n = model.get("count");
  const key = model.get("xy") || {};
  let kept = decoded.get(key);
  if (!kept) {
    const xy0 = typed(model.get("xy"), Uint16Array);
    kept = { xy: xy0, codes: typed(model.get("codes"), Uint16Array), grid: buildGrid(xy0, n, n > 100000 ? 1024 : 256),
      known: new Map(), hidden: new Set(), gl: null, shot: "" };
    decoded.set(key, kept);
  }
  const { xy, codes, known, hidden } = kept;
  const bounds = model.get("bounds") || [0, 1, 0, 1];
  const names = model.get("label_names") || [];
  // known: index -> text, from the up-front blob or the kernel's answers.
  const blob = known.size ? null : bytesOf(model.get("texts"));
  if (blob && blob.length) new TextDecoder().decode(blob).split("\0").forEach((t, i) => known.set(i, t));

  const root = h("div", { class: "llnb-explorer", role: "region", "aria-label": "embedding explorer", "data-state": "ready", "data-points": String(n) });
  const note = h("div", { class: "llnb-explorer-note" });
  const input = h("input", { class: "llnb-query", type: "text", placeholder: "Type a sentence and press Enter to see where it lands", "aria-label": "query" });
  const ask = h("button", { class: "llnb-send", type: "button" }, "Find");
  const find = h("input", { class: "llnb-search", type: "search", placeholder: "Search texts (Enter)", "aria-label": "search texts" });
  const regex = h("input", { class: "llnb-regex", type: "checkbox", "aria-label": "regular expression" });
  const findInfo = h("span", { class: "llnb-search-info", role: "status" });
  find.value = model.get("search_pattern") || ""; // a view built anew shows the last search
  regex.checked = !!model.get("search_regex");
  const error = h("div", { class: "llnb-error", role: "alert" });
  const heat = h("canvas", { class: "llnb-heatmap", "aria-label": "cosine similarity heatmap" });
  const mapBox = h("div", { class: "llnb-map-box", style: "position:relative" });
  const canvas = h("canvas", { class: "llnb-map", tabindex: "0", "aria-label": "2-D map of the texts: drag to pan, wheel or +/- to zoom, hover to read, click for neighbours" });
  const over = h("canvas", { class: "llnb-overlay", style: "position:absolute;left:0;top:0;pointer-events:none" });
  const tip = h("div", { class: "llnb-tip", role: "tooltip" });
  mapBox.append(canvas, over, tip);
  const modes = {};
  const tools = h("div", { class: "llnb-map-tools" }, ...["pan", "box", "lasso"].map((m) => (modes[m] = h("button", { type: "button", class: `llnb-mode llnb-mode-${m}`, "aria-pressed": String(m === "pan") }, m))),
    h("button", { type: "button", class: "llnb-reset" }, "reset view"));
  const legend = h("div", { class: "llnb-legend" });
  const promptBox = h("textarea", { class: "llnb-name-prompt", rows: "3", "aria-label": "prompt for naming clusters" });
  const nameBtn = h("button", { type: "button", class: "llnb-name-clusters" }, "Name clusters");
  const nameInfo = h("span", { class: "llnb-naming-info" });
  const naming = h("details", { class: "llnb-naming" }, h("summary", {}, "Clusters named by the model"), promptBox, h("div", {}, nameBtn, " ", nameInfo));
  const side = h("div", { class: "llnb-neighbors", "aria-live": "polite" });
  const selInfo = h("div", { class: "llnb-selinfo" });
  root.append(h("div", { class: "llnb-head" }, h("span", { class: "llnb-title" }, model.get("title"))), note,
    h("div", { class: "llnb-query-bar" }, input, ask), h("div", { class: "llnb-search-bar" }, find, h("label", {}, regex, " regex "), findInfo), error, heat,
    h("div", { class: "llnb-explorer-body" }, h("div", {}, tools, mapBox, legend, selInfo, naming), side));
  el.append(root);
  tip.hidden = true;

  const hm = model.get("heatmap") || [];
  note.textContent = hm.length ? "Cosine similarity of every pair (hover a cell), then the 2-D map (PCA)."
    : `${n} texts: too many for a readable heatmap (up to 50), so the 2-D map (PCA) and neighbour lists instead.`;
  heat.hidden = !hm.length;

  // Texts: asked for by index, a few at a time; `then` runs when they are known.
  const pending = new Set(), waiting = [];
  function want(ids, then) {
    const missing = ids.filter((i) => i >= 0 && !known.has(i) && !pending.has(i));
    if (then) waiting.push([ids, then]);
    if (missing.length) { missing.forEach((i) => pending.add(i)); model.send({ type: "texts", ids: missing }); }
    flush();
  }
  function flush() {
    for (let k = waiting.length - 1; k >= 0; k--) {
      const [ids, then] = waiting[k];
      if (ids.every((i) => i < 0 || known.has(i))) { waiting.splice(k, 1); then(); }
    }
  }
  model.on("msg:custom", (msg) => {
    if (msg && msg.type === "texts") { msg.ids.forEach((i, k) => { known.set(i, msg.texts[k]); pending.delete(i); }); flush(); }
  });

  // Heatmap with row labels (texts), column numbers and a colour scale.
  function drawHeat() {
    if (!hm.length) return;
    const m = Math.round(Math.sqrt(hm.length)), cell = Math.max(8, Math.min(22, Math.floor(520 / m)));
    const left = 190, top = 18, dpr = window.devicePixelRatio || 1, scaleW = 60;
    const w = left + m * cell + 8 + scaleW, hh = top + m * cell + 4;
    heat.style.width = `${w}px`; heat.style.height = `${hh}px`; heat.width = w * dpr; heat.height = hh * dpr;
    const ctx = heat.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = `${Math.min(12, cell - 2)}px sans-serif`; ctx.textBaseline = "middle";
    for (let i = 0; i < m; i++) {
      ctx.fillStyle = "#444"; ctx.textAlign = "right";
      ctx.fillText(cut(`${i} ${known.get(i) || ""}`, 30), left - 4, top + i * cell + cell / 2);
      ctx.textAlign = "center"; ctx.fillText(String(i), left + i * cell + cell / 2, top / 2);
      for (let j = 0; j < m; j++) { ctx.fillStyle = css(ramp(hm[i * m + j])); ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1); }
    }
    const sx = left + m * cell + 14, sh = m * cell; // the scale: cosine 0 (bottom) to 1 (top)
    for (let y = 0; y < sh; y++) { ctx.fillStyle = css(ramp(1 - y / sh)); ctx.fillRect(sx, top + y, 12, 1); }
    ctx.fillStyle = "#444"; ctx.textAlign = "left"; ctx.font = "11px sans-serif";
    [[1, "1.0"], [0.5, "0.5"], [0, "≤0"]].forEach(([v, t]) => ctx.fillText(t, sx + 16, top + (1 - v) * sh));
    heat.dataset.scale = "cosine 0-1";
    heat.onmousemove = (e) => {
      const r = heat.getBoundingClientRect(), j = Math.floor((e.clientX - r.left - left) / cell), i = Math.floor((e.clientY - r.top - top) / cell);
      heat.title = i >= 0 && j >= 0 && i < m && j < m ? `${cut(known.get(i) || "", 60)}\n${cut(known.get(j) || "", 60)}\ncosine ${hm[i * m + j].toFixed(3)}` : "";
    };
  }

  // --- the map --------------------------------------------------------------------
  let W = 0, H = 0, view = FULL_VIEW.slice(), renderer = null, offscreen = null;
  const dpr = window.devicePixelRatio || 1;
  const grid = kept.grid; // finer cells above 100k points keep a hover cheap at a million
  let selMask = null, selCount = 0, matchMask = null, matchCount = 0;
  const unitX = (x) => (x - bounds[0]) / (bounds[1] - bounds[0]), unitY = (y) => (y - bounds[2]) / (bounds[3] - bounds[2]);
  const toScreen = (u, v) => [((u - view[0]) / (view[1] - view[0])) * W, H - ((v - view[2]) / (view[3] - view[2])) * H];
  const toUnit = (px, py) => [view[0] + (px / W) * (view[1] - view[0]), view[2] + ((H - py) / H) * (view[3] - view[2])];
  const screenOf = (i) => toScreen(xy[2 * i] / 65535, xy[2 * i + 1] / 65535);
  function labelRgb() {
    const cols = (model.get("label_colors") || []).map(hexRgb);
    return [[150, 150, 150], ...cols];
  }
  // Colours per point: label (or value) colour; hidden labels transparent; when a search
  // or selection is active, the rest fade. Computed and uploaded only when what they
  // depend on changed (the model's values are the same objects until they change).
  function paint() {
    const gl = kept.gl, inputs = [model.get("values"), model.get("value_name"), model.get("label_colors"),
      [...hidden].join(), model.get("selected_ids"), model.get("matches")];
    if (gl.inputs && inputs.every((v, k) => v === gl.inputs[k])) return;
    gl.inputs = inputs; gl.version++;
    const rgba = gl.rgba, byValue = model.get("value_name") && model.get("values");
    const vals = byValue ? bytesOf(model.get("values")) : null;
    const lab = labelRgb(), steps = byValue ? Array.from({ length: 256 }, (_, k) => (k === 255 ? [190, 190, 190] : ramp(k / 254))) : null;
    const base = n > 200000 ? 110 : n > 20000 ? 150 : 215;
    const focusOn = matchMask || selMask;
    for (let i = 0; i < n; i++) {
      const c = byValue ? steps[vals[i]] : lab[codes[i]] || lab[0];
      let a = hidden.has(codes[i]) ? 0 : base;
      if (a && focusOn && !((!matchMask || matchMask[i]) && (!selMask || selMask[i]))) a = 18;
      else if (a && focusOn) a = 255;
      rgba[4 * i] = c[0]; rgba[4 * i + 1] = c[1]; rgba[4 * i + 2] = c[2]; rgba[4 * i + 3] = a;
    }
    gl.renderer.colors(rgba);
  }
  function layout() {
    W = Math.max(320, Math.min(760, mapBox.clientWidth || 560)); H = Math.round(W * 0.72);
    for (const c of [canvas, over]) { c.style.width = `${W}px`; c.style.height = `${H}px`; c.width = W * dpr; c.height = H * dpr; }
    const kind = window.llnbRenderer || "auto";
    if (!kept.gl || kept.gl.kind !== kind) { // the renderer draws offscreen; `canvas` shows it
      const offscreen = document.createElement("canvas");
      offscreen.width = W * dpr; offscreen.height = H * dpr;
      kept.gl = { kind, offscreen, renderer: makeRenderer(offscreen, xy, n, kind), rgba: new Uint8Array(n * 4), inputs: null, version: 0, shown: "" };
    } else if (kept.gl.offscreen.width !== W * dpr || kept.gl.offscreen.height !== H * dpr) {
      kept.gl.offscreen.width = W * dpr; kept.gl.offscreen.height = H * dpr; kept.gl.shown = "";
    }
    offscreen = kept.gl.offscreen; renderer = kept.gl.renderer;
    root.dataset.renderer = renderer.kind;
  }
  // A full frame draws every point; when that is slower than a frame's budget (a
  // million points in software WebGL: ~0.7 s here), frames during a zoom or pan scale
  // the last full picture instead, and the full frame follows when the user pauses.
  let frameQueued = false, fullMs = 0, drawnView = null, drawnShown = "", fullTimer = null;
  const BUDGET_MS = 25;
  function draw(full = false) {
    if (full || fullMs <= BUDGET_MS || !drawnView) { clearTimeout(fullTimer); fullTimer = null; wantFull = true; }
    else { clearTimeout(fullTimer); fullTimer = setTimeout(() => draw(true), 180); }
    if (!frameQueued) { frameQueued = true; requestAnimationFrame(frame); }
  }
  let wantFull = true;
  // A view JupyterLab replaced (a display update) stays subscribed to the model until
  // it is cleaned up: it draws and sends nothing.
  const gone = () => root.dataset.state === "drawn" && !root.isConnected;
  function frame() {
    frameQueued = false;
    if (gone()) return;
    const t = performance.now(), ctx = canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    if (wantFull) {
      wantFull = false;
      const zoom = (FULL_VIEW[1] - FULL_VIEW[0]) / (view[1] - view[0]);
      const size = (n > 200000 ? 1.5 : n > 20000 ? 2 : n > 2000 ? 3 : 6) * Math.min(4, Math.sqrt(Math.max(1, zoom))) * dpr;
      // What the offscreen picture shows; the same again (a re-created view) is a copy.
      const shown = JSON.stringify([view, size, kept.gl.version]);
      if (shown !== kept.gl.shown) {
        renderer.draw(view, size); kept.gl.shown = shown;
        ctx.drawImage(offscreen, 0, 0); // waits for the drawing: part of a full frame's time
        fullMs = performance.now() - t; kept.gl.fullMs = fullMs;
      } else { ctx.drawImage(offscreen, 0, 0); fullMs = kept.gl.fullMs || 0; }
      drawnView = view.slice(); drawnShown = kept.gl.shown;
      root.dataset.fullMs = fullMs.toFixed(1);
    } else { // the last full picture, moved and scaled to the current view
      if (kept.gl.shown !== drawnShown) { wantFull = true; frameQueued = false; frame(); return; } // another view drew since
      const [a0, a1, b0, b1] = drawnView, k = (a1 - a0) / (view[1] - view[0]), m = (b1 - b0) / (view[3] - view[2]);
      const dx = ((a0 - view[0]) / (view[1] - view[0])) * canvas.width, dy = ((view[3] - b1) / (view[3] - view[2])) * canvas.height;
      ctx.fillStyle = "#fff"; ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(offscreen, dx, dy, canvas.width * k, canvas.height * m);
    }
    drawOverlay();
    root.dataset.frameMs = (performance.now() - t).toFixed(1);
    root.dataset.view = view.map((v) => v.toFixed(5)).join(",");
    canvas.dataset.drawn = String(n);
    shotLater();
  }
  function drawOverlay(path) {
    const ctx = over.getContext("2d"); ctx.setTransform(dpr, 0, 0, dpr, 0, 0); ctx.clearRect(0, 0, W, H);
    const focus = model.get("focus"), rows = model.get("neighbors") || [], query = model.get("query") || {};
    const lab = labelRgb();
    for (const r of rows) { const [x, y] = screenOf(r.index); ctx.fillStyle = css(lab[codes[r.index]] || lab[0]); ctx.beginPath(); ctx.arc(x, y, 4.5, 0, 7); ctx.fill(); ctx.strokeStyle = "#111"; ctx.lineWidth = 1; ctx.stroke(); }
    if (focus >= 0) { const [x, y] = screenOf(focus); ctx.strokeStyle = "#d62728"; ctx.lineWidth = 2.5; ctx.beginPath(); ctx.arc(x, y, 7, 0, 7); ctx.stroke(); }
    if (query.text != null) {
      const [qx, qy] = toScreen(unitX(query.x), unitY(query.y));
      ctx.fillStyle = "#d62728"; ctx.font = "18px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.fillText("★", qx, qy);
    }
    ctx.font = "bold 12px sans-serif"; ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.lineWidth = 3;
    for (const c of model.get("clusters") || []) { // names drawn with a white halo
      const [x, y] = toScreen(unitX(c.x), unitY(c.y));
      if (x < 0 || y < 0 || x > W || y > H) continue;
      ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.strokeText(c.name, x, y);
      ctx.fillStyle = c.final ? "#111" : "#777"; ctx.fillText(c.name, x, y);
    }
    const line = path || drag?.path;
    if (line && line.length > 1) {
      ctx.strokeStyle = "#333"; ctx.setLineDash([4, 3]); ctx.lineWidth = 1; ctx.beginPath();
      line.forEach(([x, y], k) => (k ? ctx.lineTo(x, y) : ctx.moveTo(x, y))); ctx.closePath(); ctx.stroke(); ctx.setLineDash([]);
    }
  }

  // The picture of the map as shown goes to the kernel for the saved notebook, once the
  // view has been still for a while.
  let shotTimer = null;
  function shotLater() {
    if (hm.length) return; // small sets: the heatmap is the snapshot
    clearTimeout(shotTimer);
    shotTimer = setTimeout(() => {
      if (fullTimer !== null || gone()) return; // a full frame is on its way; it will shoot again
      // What the picture shows: a picture of what the kernel already has is not sent
      // (a view re-created by the display update it makes would otherwise send it again).
      const key = JSON.stringify([view.map((v) => +v.toFixed(4)), selCount, matchCount, model.get("focus"),
        (model.get("query") || {}).text || "", model.get("value_name") || "", [...hidden],
        (model.get("clusters") || []).map((c) => c.name)]);
      if (key === kept.shot) return;
      kept.shot = key;
      // At most 560 px wide: a million points make a noisy picture that PNG hardly
      // compresses, and it travels to the kernel and into the saved notebook.
      const k = Math.min(1, 560 / canvas.width), c = document.createElement("canvas");
      c.width = Math.round(canvas.width * k); c.height = Math.round(canvas.height * k);
      const ctx = c.getContext("2d"); ctx.drawImage(canvas, 0, 0, c.width, c.height); ctx.drawImage(over, 0, 0, c.width, c.height);
      model.send({ type: "png", data: c.toDataURL("image/png").split(",")[1], key });
    }, 1500);
  }

  // View: kept in the kernel's `view` (map coordinates) so that a saved notebook, a
  // linked explorer and Python see it; sent when the user pauses.
  let viewTimer = null;
  function setView(v, sync = true) {
    view = v; draw();
    if (!sync) return;
    clearTimeout(viewTimer);
    viewTimer = setTimeout(() => {
      const d = [bounds[0] + view[0] * (bounds[1] - bounds[0]), bounds[0] + view[1] * (bounds[1] - bounds[0]),
        bounds[2] + view[2] * (bounds[3] - bounds[2]), bounds[2] + view[3] * (bounds[3] - bounds[2])];
      model.set("view", d); model.save_changes();
    }, 250);
  }
  function viewFromModel() {
    const d = model.get("view") || [];
    if (d.length !== 4) { view = FULL_VIEW.slice(); draw(); return; }
    view = [unitX(d[0]), unitX(d[1]), unitY(d[2]), unitY(d[3])]; draw();
  }

  function showNeighbors() {
    const focus = model.get("focus"), rows = model.get("neighbors") || [], query = model.get("query") || {};
    root.dataset.focus = String(focus);
    if (focus < 0 && query.text == null) { side.replaceChildren(h("div", { class: "llnb-empty" }, "Click a point (or type a query) to list its nearest neighbours.")); return; }
    want([focus], () => {
      const about = query.text != null ? `your query “${cut(query.text, 80)}”` : `“${cut(known.get(focus) || "", 80)}”`;
      side.replaceChildren(h("div", { class: "llnb-neighbors-title" }, `Nearest to ${about} (cosine, original space)`),
        h("ol", {}, ...rows.map((r) => {
          const li = h("li", { class: "llnb-neighbor", tabindex: "0", "data-index": String(r.index) },
            h("code", {}, r.score.toFixed(3)), " ", cut(r.text, 160), r.label ? h("i", {}, ` [${r.label}]`) : "");
          const go = () => model.send({ type: "focus", index: r.index });
          li.addEventListener("click", go); li.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
          return li;
        })));
    });
  }
  function showError() { const m = model.get("error"); error.hidden = !m; error.textContent = m || ""; }
  function maskOf(name) {
    const ids = typed(model.get(name), Uint32Array);
    if (!ids.length) return [null, 0];
    const mask = new Uint8Array(n); for (const i of ids) if (i < n) mask[i] = 1;
    return [mask, ids.length];
  }
  function showSelection() {
    [selMask, selCount] = maskOf("selected_ids");
    root.dataset.selected = String(selCount);
    selInfo.textContent = selCount ? `${selCount} selected (explorer.selection) · click empty space to clear`
      : "Box or lasso (buttons above, or shift-drag / alt-drag) to select points (explorer.selection).";
    paint(); draw(true);
  }
  function showMatchInfo() {
    const info = model.get("search_info") || "";
    root.dataset.matches = String(matchCount);
    findInfo.textContent = info; findInfo.classList.toggle("llnb-error", info.startsWith("not a regular"));
  }
  function showMatches() {
    [matchMask, matchCount] = maskOf("matches");
    showMatchInfo(); paint(); draw(true);
  }
  function showLegend() {
    const valueName = model.get("value_name");
    if (valueName) {
      const [lo, hi] = model.get("value_range") || [0, 1];
      const bar = h("span", { class: "llnb-ramp", style: `display:inline-block;width:120px;height:10px;background:linear-gradient(to right,${[0, 0.25, 0.5, 0.75, 1].map((t) => css(ramp(t))).join(",")})` });
      legend.replaceChildren(h("span", {}, `${valueName}: ${+lo.toPrecision(3)} `), bar, h("span", {}, ` ${+hi.toPrecision(3)}`));
      return;
    }
    const cols = model.get("label_colors") || [];
    const items = names.slice(0, 40).map((name, k) => {
      const code = k + 1;
      const item = h("button", { type: "button", class: "llnb-legend-item", "data-code": String(code), "aria-pressed": String(!hidden.has(code)), title: "click to hide or show" },
        h("span", { class: "llnb-swatch", style: `display:inline-block;width:10px;height:10px;background:${cols[k]}` }), " ", cut(name, 24));
      item.style.opacity = hidden.has(code) ? "0.35" : "1";
      item.addEventListener("click", () => { if (hidden.has(code)) hidden.delete(code); else hidden.add(code); showLegend(); paint(); draw(true); });
      return item;
    });
    if (names.length > 40) items.push(h("span", {}, ` … ${names.length - 40} more`));
    const info = model.get("palette_note");
    legend.replaceChildren(...items, info ? h("div", { class: "llnb-palette-note" }, info) : "");
  }

  // Pointer: drag pans (or draws a box / lasso), a click focuses, hover reads a text.
  let mode = "pan", drag = null, hoverAt = null;
  const setMode = (m) => { mode = m; for (const k in modes) modes[k].setAttribute("aria-pressed", String(k === m)); root.dataset.mode = m; };
  for (const k in modes) modes[k].addEventListener("click", () => setMode(k));
  tools.querySelector(".llnb-reset").addEventListener("click", () => setView(FULL_VIEW.slice()));
  const local = (e) => { const r = canvas.getBoundingClientRect(); return [e.clientX - r.left, e.clientY - r.top]; };
  const visible = (i) => !hidden.has(codes[i]);
  function pick(px, py) {
    const [u, v] = toUnit(px, py);
    return nearest(grid, xy, u, v, (6 / W) * (view[1] - view[0]), visible);
  }
  canvas.addEventListener("mousedown", (e) => {
    const p = local(e), how = e.shiftKey ? "box" : e.altKey ? "lasso" : mode;
    drag = { how, x0: p[0], y0: p[1], last: p, moved: false, path: how === "pan" ? null : [p], view };
    e.preventDefault(); canvas.focus();
  });
  canvas.addEventListener("mousemove", (e) => {
    const [px, py] = local(e);
    if (drag) {
      if (Math.abs(px - drag.x0) + Math.abs(py - drag.y0) > 4) drag.moved = true;
      if (!drag.moved) return;
      tip.hidden = true;
      if (drag.how === "pan") setView(panBy(drag.view, -(px - drag.x0) / W, (py - drag.y0) / H));
      else if (drag.how === "box") { drag.path = [[drag.x0, drag.y0], [px, drag.y0], [px, py], [drag.x0, py]]; drawOverlay(); }
      else { drag.path.push([px, py]); drawOverlay(); }
      return;
    }
    hoverAt = [px, py];
    const i = pick(px, py);
    root.dataset.hover = String(i);
    if (i < 0) { tip.hidden = true; return; }
    const show = () => {
      if (root.dataset.hover !== String(i)) return;
      tip.replaceChildren(h("div", {}, known.get(i) ?? "…"), codes[i] ? h("div", { class: "llnb-tip-label" }, names[codes[i] - 1]) : "");
      tip.hidden = false;
      tip.style.left = `${Math.min(hoverAt[0] + 12, W - 240)}px`; tip.style.top = `${hoverAt[1] + 12}px`;
    };
    show(); want([i], show);
  });
  canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  window.addEventListener("mouseup", onUp);
  function onUp() {
    if (!drag) return;
    const d = drag; drag = null;
    if (!d.moved) {
      const i = pick(d.x0, d.y0);
      if (i < 0 && selCount) { model.send({ type: "select", polygon: [] }); }
      model.send({ type: "focus", index: i });
    } else if (d.how !== "pan" && d.path.length > 2) {
      const polygon = d.path.map(([px, py]) => { const [u, v] = toUnit(px, py); return [bounds[0] + u * (bounds[1] - bounds[0]), bounds[2] + v * (bounds[3] - bounds[2])]; });
      model.send({ type: "select", polygon });
    }
    drawOverlay();
  }
  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [px, py] = local(e);
    setView(zoomAt(view, px / W, 1 - py / H, Math.exp(-e.deltaY * 0.0015)));
  }, { passive: false });
  canvas.addEventListener("keydown", (e) => {
    const keys = { "+": 1.25, "=": 1.25, "-": 0.8 };
    if (keys[e.key]) setView(zoomAt(view, 0.5, 0.5, keys[e.key]));
    else if (e.key === "0") setView(FULL_VIEW.slice());
    else if (e.key.startsWith("Arrow")) setView(panBy(view, { ArrowLeft: -0.1, ArrowRight: 0.1 }[e.key] || 0, { ArrowDown: -0.1, ArrowUp: 0.1 }[e.key] || 0));
    else if (e.key === "Escape") model.send({ type: "focus", index: -1 });
    else return;
    e.preventDefault();
  });
  const submit = () => { const text = input.value.trim(); if (text) model.send({ type: "query", text }); };
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); submit(); } e.stopPropagation(); });
  ask.addEventListener("click", submit);
  const searchNow = () => model.send({ type: "search", pattern: find.value, regex: regex.checked });
  find.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); searchNow(); } e.stopPropagation(); });
  find.addEventListener("search", searchNow); // the clear button of a search field
  regex.addEventListener("change", searchNow);

  function showNaming() {
    const info = model.get("naming") || {};
    if (info.prompt && document.activeElement !== promptBox) promptBox.value = info.prompt;
    nameInfo.textContent = info.model ? `${info.model} · ${info.state}` : "model: smollm2:135m (explorer.name_clusters(spec) for another)";
    root.dataset.naming = info.state || "";
    root.dataset.clusters = String((model.get("clusters") || []).filter((c) => c.final).length);
  }
  nameBtn.addEventListener("click", () => model.send({ type: "name_clusters", prompt: promptBox.value }));
  promptBox.addEventListener("keydown", (e) => e.stopPropagation());
  model.on("change:naming", showNaming);
  model.on("change:clusters", () => { showNaming(); drawOverlay(); shotLater(); });
  // A click changes focus, neighbours and query in one update: the list and the
  // overlay are redrawn once, and the points not at all.
  let refocusQueued = false;
  const refocus = () => {
    if (refocusQueued) return;
    refocusQueued = true;
    queueMicrotask(() => { refocusQueued = false; if (!gone()) { drawOverlay(); showNeighbors(); shotLater(); } });
  };
  model.on("change:focus", refocus);
  model.on("change:neighbors", refocus);
  model.on("change:query", refocus);
  model.on("change:error", showError);
  model.on("change:selected_ids", showSelection);
  model.on("change:matches", showMatches);
  model.on("change:search_info", showMatches);
  model.on("change:view", viewFromModel);
  for (const name of ["values", "value_name", "label_colors"]) model.on(`change:${name}`, () => { showLegend(); paint(); draw(true); });
  drawHeat(); showNeighbors(); showError(); showLegend(); setMode("pan"); showNaming();
  // Lay out once the element is in the page (its width is known then).
  requestAnimationFrame(() => {
    layout(); [selMask, selCount] = maskOf("selected_ids"); [matchMask, matchCount] = maskOf("matches"); showMatchInfo(); paint();
    const d = model.get("view") || [];
    if (d.length === 4) view = [unitX(d[0]), unitX(d[1]), unitY(d[2]), unitY(d[3])];
    frame(); showSelection();
    root.dataset.renderMs = String(Math.round(performance.now() - t0));
    root.dataset.state = "drawn";
  });
  canvas.llnbScreen = (i) => screenOf(i); // where point i is drawn (for tests and tools)
  const cleanup = () => { window.removeEventListener("mouseup", onUp); clearTimeout(shotTimer); clearTimeout(viewTimer); clearTimeout(fullTimer); };
  signal?.addEventListener("abort", cleanup);
  return cleanup;
}

export default { render };
