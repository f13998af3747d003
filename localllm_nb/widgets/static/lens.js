// The token lens: per-token probabilities decoded from the kernel's packed batches
// (widgets/lens.py), shading buckets, entropy, and the DOM of shaded token spans with a
// popover of alternatives. Keyboard: arrows move across tokens, Enter or ↓ enters the
// alternatives, Enter on one branches from it, Escape goes back.
import { h } from "./shared.js";

// Probability at or above which a token falls in each bucket (widgets/lens.py BUCKETS).
export const LENS_BUCKETS = [0.9, 0.7, 0.5, 0.3, 0.1];
const MISSING = 0xffff, SCALE = 1000;
const CHANNELS = { c: "content", t: "thinking", x: "tool_call" };

export function bucket(p) {
  for (let i = 0; i < LENS_BUCKETS.length; i++) if (p >= LENS_BUCKETS[i]) return i;
  return LENS_BUCKETS.length;
}

function u16(b64) {
  const bin = atob(b64 || ""), out = new Uint16Array(bin.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bin.charCodeAt(2 * i) | (bin.charCodeAt(2 * i + 1) << 8);
  return out;
}

// A packed batch -> [{text, lp, ch, alts: [[text, lp], ...]}] (lens.py `unpack`).
export function decodeLens(packed) {
  if (!packed || !packed.n) return [];
  const { n, k, words } = packed, ids = u16(packed.ids), lps = u16(packed.lp), out = [];
  for (let t = 0; t < n; t++) {
    const row = t * (k + 1), alts = [];
    for (let i = 1; i <= k; i++) if (ids[row + i] !== MISSING) alts.push([words[ids[row + i]], -lps[row + i] / SCALE]);
    out.push({ text: words[ids[row]], lp: -lps[row] / SCALE, ch: CHANNELS[packed.ch[t]] || "content", alts });
  }
  return out;
}

// Entropy (nats) over the alternatives plus the mass they leave (run/tokens.py `entropy`).
export function entropy(tok) {
  if (!tok.alts.length) return null;
  const ps = tok.alts.map((a) => Math.exp(a[1]));
  const rest = Math.max(0, 1 - ps.reduce((x, y) => x + y, 0));
  return -[...ps, rest].reduce((s, p) => (p > 0 ? s + p * Math.log(p) : s), 0);
}

const pct = (lp) => `${(100 * Math.exp(lp)).toFixed(1)}%`;
const visible = (text) => JSON.stringify(text);

// Shaded spans of one channel's tokens in `box`, and the popover they share.
export class LensPane {
  constructor(box, channel, lens) { Object.assign(this, { box, channel, lens, count: 0, active: -1 }); }
  // Rebuild from all tokens; `tail` is text after them (not covered by tokens).
  rebuild(tokens, tail = "") {
    this.box.replaceChildren();
    this.count = 0;
    this.append(tokens, 0);
    if (tail) this.box.append(tail);
  }
  // Add spans for tokens[from...] of this pane's channel.
  append(tokens, from) {
    const frag = document.createDocumentFragment();
    for (let i = from; i < tokens.length; i++) {
      const tok = tokens[i];
      if (tok.ch !== this.channel || !tok.text) continue;
      const span = h("span", { class: "llnb-tok", "data-i": String(i), "data-b": String(bucket(Math.exp(tok.lp))), tabindex: "-1" }, tok.text);
      frag.append(span);
      this.count++;
    }
    this.box.append(frag);
  }
  spans() { return [...this.box.querySelectorAll(".llnb-tok")]; }
}

// After a pick the view re-lays out (and JupyterLab may build it anew) under a still
// pointer, and the browser then reports the pointer "over" whatever token moved beneath
// it: hover stays quiet until the pointer leaves the place it was at when the pick was
// made. Kept for the page, not the view, since the view may be a new one.
const pointer = { at: null, quietAt: null };

function stillAfterPick(e) {
  if (pointer.quietAt === "unknown") pointer.quietAt = [e.clientX, e.clientY]; // a keyboard pick
  const at = pointer.quietAt;
  if (at === null) return false;
  if (at[0] !== e.clientX || at[1] !== e.clientY) { pointer.quietAt = null; return false; }
  return true;
}

export class TokenLens {
  // `root` holds the popover; `onBranch(index, alternative)` is called on a pick;
  // `tokens()` gives the current tokens; `canBranch(i)` says whether (or why not).
  constructor(root, { tokens, onBranch, canBranch }) {
    Object.assign(this, { root, tokens, onBranch, canBranch, shownFor: null, hideTimer: null });
    this.pop = h("div", { class: "llnb-lens-pop", role: "dialog", "aria-label": "alternatives", id: `llnb-pop-${Math.random().toString(36).slice(2)}` });
    this.pop.hidden = true;
    root.append(this.pop);
    root.addEventListener("mousemove", (e) => { pointer.at = [e.clientX, e.clientY]; stillAfterPick(e); });
    this.pop.addEventListener("mouseenter", () => clearTimeout(this.hideTimer));
    this.pop.addEventListener("mouseleave", () => this.hideSoon());
    this.pop.addEventListener("keydown", (e) => this.popKey(e));
  }
  // Wire a pane's box: hover, focus, arrows.
  attach(pane) {
    const box = pane.box;
    box.addEventListener("mouseover", (e) => {
      if (stillAfterPick(e)) return;
      const span = e.target.closest?.(".llnb-tok");
      if (span && box.contains(span)) { clearTimeout(this.hideTimer); this.show(span); }
    });
    box.addEventListener("mouseleave", () => this.hideSoon());
    box.addEventListener("focusin", (e) => {
      if (e.target === box && this.enabled() && !box.contains(e.relatedTarget)) {
        // Into the tokens once the box's own focus has settled (a nested focus() is undone).
        setTimeout(() => { const spans = pane.spans(); if (spans.length && document.activeElement === box) spans[Math.max(0, Math.min(pane.active, spans.length - 1))].focus(); }, 0);
        return;
      }
      const span = e.target.closest?.(".llnb-tok");
      if (span) { pane.active = pane.spans().indexOf(span); this.show(span); }
    });
    box.addEventListener("keydown", (e) => {
      const span = e.target.closest?.(".llnb-tok");
      if (!span) return;
      const spans = pane.spans(), at = spans.indexOf(span);
      const step = { ArrowRight: 1, ArrowLeft: -1, Home: -at, End: spans.length - 1 - at }[e.key];
      if (step !== undefined) {
        e.preventDefault();
        const next = spans[Math.max(0, Math.min(spans.length - 1, at + step))];
        next.focus();
      } else if (e.key === "Enter" || e.key === "ArrowDown") {
        e.preventDefault();
        this.show(span);
        this.pop.querySelector("button:not([disabled])")?.focus();
      } else if (e.key === "Escape") { this.hide(); }
    });
  }
  enabled() { return this.root.classList.contains("llnb-lens-on"); }
  show(span) {
    if (!this.enabled()) return;
    const i = Number(span.dataset.i), tok = this.tokens()[i];
    if (!tok) return;
    this.shownFor = span;
    const h0 = entropy(tok), why = this.canBranch(i);
    const rows = tok.alts.map(([text, lp]) => {
      const chosen = text === tok.text;
      const b = h("button", { type: "button", class: "llnb-alt", "data-alt": text, "data-b": String(bucket(Math.exp(lp))) },
        h("code", {}, visible(text)), h("span", { class: "llnb-alt-p" }, pct(lp)));
      if (chosen) b.setAttribute("aria-current", "true");
      if (why !== true || chosen) b.disabled = true;
      b.addEventListener("click", () => { pointer.quietAt = pointer.at || "unknown"; this.hide(); this.onBranch(i, text); });
      return b;
    });
    const head = h("div", { class: "llnb-pop-head" }, h("code", {}, visible(tok.text)), ` ${pct(tok.lp)}`,
      h0 === null ? "" : ` · H ${h0.toFixed(2)} nats`);
    const note = h("div", { class: "llnb-pop-note" },
      why === true ? (rows.length ? "Pick one to branch from here" : "No alternatives (top_logprobs=0)") : why);
    this.pop.replaceChildren(head, ...rows, note);
    this.pop.hidden = false;
    span.setAttribute("aria-describedby", this.pop.id);
    const r = span.getBoundingClientRect(), base = this.root.getBoundingClientRect();
    this.pop.style.left = `${Math.max(0, r.left - base.left)}px`;
    this.pop.style.top = `${r.bottom - base.top + 4}px`;
  }
  hideSoon() { clearTimeout(this.hideTimer); this.hideTimer = setTimeout(() => this.hide(), 300); }
  hide() { this.pop.hidden = true; this.shownFor?.removeAttribute("aria-describedby"); }
  popKey(e) {
    const buttons = [...this.pop.querySelectorAll("button:not([disabled])")], at = buttons.indexOf(document.activeElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      buttons[(at + (e.key === "ArrowDown" ? 1 : buttons.length - 1)) % buttons.length]?.focus();
    } else if (e.key === "Escape") {
      e.preventDefault();
      const back = this.shownFor; this.hide(); back?.focus();
    }
  }
}
