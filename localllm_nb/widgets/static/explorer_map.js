// The explorer's map without the DOM: the view (a window on the unit square the uint16
// coordinates span), zoom and pan, a grid that finds the point under the pointer, colour
// ramps, and the WebGL (or, without WebGL, ImageData) renderer of a million points.

// A view is [u0, u1, v0, v1]: the part of the unit square shown (v grows upwards).
export const FULL_VIEW = [-0.03, 1.03, -0.03, 1.03];

// Zoom by `factor` (> 1: closer) keeping the point at fraction (fx, fy) of the view still.
export function zoomAt(view, fx, fy, factor) {
  const [u0, u1, v0, v1] = view, w = (u1 - u0) / factor, hh = (v1 - v0) / factor;
  const cx = u0 + fx * (u1 - u0), cy = v0 + fy * (v1 - v0);
  if (w < 1e-5 || w > 20) return view; // past a uint16 step, or lost in white space
  return [cx - fx * w, cx + (1 - fx) * w, cy - fy * hh, cy + (1 - fy) * hh];
}

// Move the view by a fraction of its own size (dragging right by 10% of the width: -0.1).
export function panBy(view, dfx, dfy) {
  const [u0, u1, v0, v1] = view, du = dfx * (u1 - u0), dv = dfy * (v1 - v0);
  return [u0 + du, u1 + du, v0 + dv, v1 + dv];
}

// Points bucketed on a G x G grid over the unit square (counting sort: two Int32Arrays,
// built once; the view changes, the grid does not).
export function buildGrid(xy, n, G = 256) {
  const cell = new Int32Array(n), start = new Int32Array(G * G + 1);
  for (let i = 0; i < n; i++) {
    const c = Math.min(G - 1, (xy[2 * i] * G) >> 16) * G + Math.min(G - 1, (xy[2 * i + 1] * G) >> 16);
    cell[i] = c; start[c + 1]++;
  }
  for (let c = 0; c < G * G; c++) start[c + 1] += start[c];
  const fill = start.slice(0, G * G), items = new Int32Array(n);
  for (let i = 0; i < n; i++) items[fill[cell[i]]++] = i;
  return { G, start, items };
}

// The visible point nearest to (u, v) within radius r (unit coordinates), or -1.
// `visible(i)` says whether point i is drawn (hidden labels are not picked).
export function nearest(grid, xy, u, v, r, visible = () => true) {
  const { G, start, items } = grid, S = 65535;
  let best = -1, bd = r * r;
  const gx0 = Math.max(0, Math.floor((u - r) * G)), gx1 = Math.min(G - 1, Math.floor((u + r) * G));
  const gy0 = Math.max(0, Math.floor((v - r) * G)), gy1 = Math.min(G - 1, Math.floor((v + r) * G));
  for (let gx = gx0; gx <= gx1; gx++) for (let gy = gy0; gy <= gy1; gy++) {
    const c = gx * G + gy;
    for (let k = start[c]; k < start[c + 1]; k++) {
      const i = items[k], dx = xy[2 * i] / S - u, dy = xy[2 * i + 1] / S - v, d = dx * dx + dy * dy;
      if (d <= bd && visible(i)) { bd = d; best = i; }
    }
  }
  return best;
}

const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
export function ramp(t) { // viridis-like, t in [0, 1] -> [r, g, b]
  const x = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1), i = Math.min(VIRIDIS.length - 2, Math.floor(x)), f = x - i;
  return VIRIDIS[i].map((a, j) => Math.round(a + (VIRIDIS[i + 1][j] - a) * f));
}
export function hexRgb(hex) { const v = parseInt(hex.slice(1), 16); return [(v >> 16) & 255, (v >> 8) & 255, v & 255]; }

const VS = `attribute vec2 p; attribute vec4 c; uniform vec4 view; uniform float size; varying vec4 col;
void main() { vec2 q = (p - view.xz) / (view.yw - view.xz); gl_Position = vec4(q * 2.0 - 1.0, 0.0, 1.0); gl_PointSize = size; col = c; }`;
const FS = "precision mediump float; varying vec4 col; void main() { gl_FragColor = col; }";

// A renderer: draw(view, size) paints every point with its colour (set by colors(rgba)).
// WebGL: the uint16 coordinates are the vertex buffer as they came (normalized), so
// uploading a million points copies nothing; a frame is one drawArrays(POINTS).
export function makeRenderer(canvas, xy, n, prefer = "auto") {
  if (prefer === "2d") return makeImageRenderer(canvas, xy, n);
  const gl = canvas.getContext("webgl", { preserveDrawingBuffer: true, antialias: false, alpha: false });
  if (!gl) return makeImageRenderer(canvas, xy, n);
  const shader = (type, src) => { const s = gl.createShader(type); gl.shaderSource(s, src); gl.compileShader(s); return s; };
  const prog = gl.createProgram();
  gl.attachShader(prog, shader(gl.VERTEX_SHADER, VS)); gl.attachShader(prog, shader(gl.FRAGMENT_SHADER, FS));
  gl.linkProgram(prog); gl.useProgram(prog);
  const pos = gl.createBuffer(), col = gl.createBuffer();
  const pLoc = gl.getAttribLocation(prog, "p"), cLoc = gl.getAttribLocation(prog, "c");
  gl.bindBuffer(gl.ARRAY_BUFFER, pos); gl.bufferData(gl.ARRAY_BUFFER, xy, gl.STATIC_DRAW);
  gl.enableVertexAttribArray(pLoc); gl.vertexAttribPointer(pLoc, 2, gl.UNSIGNED_SHORT, true, 0, 0);
  gl.bindBuffer(gl.ARRAY_BUFFER, col);
  gl.enableVertexAttribArray(cLoc); gl.vertexAttribPointer(cLoc, 4, gl.UNSIGNED_BYTE, true, 0, 0);
  gl.enable(gl.BLEND); gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
  const uView = gl.getUniformLocation(prog, "view"), uSize = gl.getUniformLocation(prog, "size");
  return {
    kind: "webgl",
    colors(rgba) { gl.bindBuffer(gl.ARRAY_BUFFER, col); gl.bufferData(gl.ARRAY_BUFFER, rgba, gl.DYNAMIC_DRAW); },
    draw(view, size) {
      gl.viewport(0, 0, canvas.width, canvas.height); gl.clearColor(1, 1, 1, 1); gl.clear(gl.COLOR_BUFFER_BIT);
      gl.uniform4f(uView, view[0], view[1], view[2], view[3]); gl.uniform1f(uSize, size);
      gl.drawArrays(gl.POINTS, 0, n);
    },
  };
}

// Without WebGL: pixels written into an ImageData (no per-point canvas call).
function makeImageRenderer(canvas, xy, n) {
  const ctx = canvas.getContext("2d");
  let rgba = new Uint8Array(n * 4);
  return {
    kind: "2d",
    colors(c) { rgba = c; },
    draw(view, size) {
      const W = canvas.width, H = canvas.height, img = ctx.createImageData(W, H), px = img.data;
      px.fill(255);
      const [u0, u1, v0, v1] = view, ku = W / (u1 - u0) / 65535, kv = H / (v1 - v0) / 65535;
      const s = Math.max(1, Math.round(size)), half = s >> 1;
      for (let i = 0; i < n; i++) {
        const a = rgba[4 * i + 3]; if (!a) continue;
        const x = Math.round((xy[2 * i] - u0 * 65535) * ku) - half, y = Math.round(H - (xy[2 * i + 1] - v0 * 65535) * kv) - half;
        if (x < -s || y < -s || x >= W || y >= H) continue;
        const f = a / 255;
        for (let dy = 0; dy < s; dy++) for (let dx = 0; dx < s; dx++) {
          const X = x + dx, Y = y + dy; if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
          const o = 4 * (Y * W + X);
          for (let k = 0; k < 3; k++) px[o + k] = px[o + k] * (1 - f) + rgba[4 * i + k] * f;
        }
      }
      ctx.putImageData(img, 0, 0);
    },
  };
}
