// StreamView's state, apart from the page: which run it shows, the text, points and tool
// calls so far, and whether it follows frames or waits for the kernel's next commit.
// Pure (no DOM, no timers), so tests drive it in a blank page (tests/browser/test_js_units.py).
//
// Streaming protocol: the kernel sends custom messages
//   {type: "frame", run_id, seq, status, content, thinking, points, tool_calls, final}
// holding only what is new since the previous frame, and commits the whole text to the
// `content`/`thinking`/`seq` traits every few seconds and at the end. Frames are applied in
// sequence; after a gap (a lost message, a page reloaded mid-run) the state waits for the
// next commit and resynchronises from the traits.
//
// Transitions: resync(traits) · receive(frame) · update(traits) · readerToggled().
// Read-outs: statusText, thinkingHeader(), statsStrip(), chartHidden, live, ended.
//
// Token lens: a frame of a run that records logprobs carries `lens`, its new tokens
// packed (widgets/lens.py); `tokens` holds them decoded. The kernel commits them all in
// `lens_data` only at the end, so after a gap `tokensComplete` is false until then.
import { decodeLens } from "./lens.js";

const FRAME_STATES = { cancelled: "stopped" };
const ENDED = ["done", "stopped", "error"];
const STATUS_TEXT = { idle: "", pending: "loading model…", running: "generating…", done: "done", stopped: "stopped", error: "error" };

// The live stats strip while a run streams, from its points [t, tokens so far, channel].
export function liveRows(points) {
  if (!points.length) return [];
  const first = points[0], last = points[points.length - 1];
  const tps = last[0] > first[0] ? (last[1] - first[1]) / (last[0] - first[0]) : 0;
  return [["TTFT", `${first[0].toFixed(2)} s`], ["tokens", String(last[1])], ["tokens/s", tps.toFixed(1)]];
}

export class StreamState {
  // `traits`: the model's run_id, seq, content, thinking, points, tool_calls, state,
  // stats, stats_rows and error.
  constructor(traits) { this.resync(traits); }

  // The committed traits are the truth: after a gap, a reload, or the end of a run.
  resync(t) {
    const sameRun = t.run_id === this.runId, points = t.points || [];
    if (!sameRun) this.toggled = false; // another run: the panel is ours again
    this.runId = t.run_id;
    this.seq = t.seq;
    this.content = t.content || "";
    this.thinking = t.thinking || "";
    // The kernel commits the points only with the run's final figures (they would make
    // every commit longer): until then, the points the frames brought are the best there
    // are. A cleared view (idle) keeps none.
    const keep = sameRun && t.state !== "idle" && points.length < this.points.length;
    if (!keep) this.points = points.slice();
    this.tools = (t.tool_calls || []).slice();
    if (t.lens_data && t.lens_data.n) { this.tokens = decodeLens(t.lens_data); this.tokensComplete = true; }
    else if (!(sameRun && t.state !== "idle")) { this.tokens = []; this.tokensComplete = true; }
    else if (this.waiting) this.tokensComplete = false; // frames were lost in the gap
    this.waiting = false;
    this.update(t);
  }

  // Traits besides the text changed (state, figures, error): take them as they are.
  update(t) {
    if (t.state !== undefined) this.state = t.state;
    if (t.stats !== undefined) this.stats = t.stats || {};
    if (t.stats_rows !== undefined) this.statsRows = t.stats_rows || [];
    if (t.error !== undefined) this.error = t.error || "";
  }

  // Does a commit of `run_id`/`seq` bring anything the frames have not (or fill a gap)?
  needsResync({ run_id, seq }) { return this.waiting || run_id !== this.runId || seq >= this.seq; }

  // A frame message. Returns what happened:
  //   "ignored" not a frame, or one already applied (repeated, late);
  //   "gap"     a frame is missing: wait for the next commit (resync);
  //   "step"    applied;
  //   "phase"   applied, and the run's first frame, its first answer text, or a new
  //             status (it started, it ended): the header, strip and chart change at once.
  receive(msg) {
    if (!msg || msg.type !== "frame") return "ignored";
    if (msg.run_id !== this.runId) {
      if (msg.seq !== 1) { this.waiting = true; return "gap"; }
      this.startRun(msg.run_id);
    }
    if (this.waiting) return "gap";
    if (msg.seq <= this.seq) return "ignored";
    if (msg.seq !== this.seq + 1) { this.waiting = true; return "gap"; }
    const hadAnswer = this.content.length > 0, was = this.state;
    this.seq = msg.seq;
    this.content += msg.content || "";
    this.thinking += msg.thinking || "";
    for (const p of msg.points || []) this.points.push(p);
    for (const c of msg.tool_calls || []) this.tools.push(c);
    if (msg.lens) for (const tok of decodeLens(msg.lens)) this.tokens.push(tok);
    this.state = FRAME_STATES[msg.status] || msg.status;
    const phase = msg.seq === 1 || (!hadAnswer && this.content.length > 0) || this.state !== was;
    return phase ? "phase" : "step";
  }

  // A new run's first frame arrived before its traits: start from nothing.
  startRun(runId) {
    Object.assign(this, { runId, seq: 0, content: "", thinking: "", points: [], tools: [], tokens: [], tokensComplete: true });
    Object.assign(this, { waiting: false, toggled: false, stats: {}, statsRows: [], error: "" });
  }

  // The reader opened or closed the thinking panel: leave it as they set it.
  readerToggled() { this.toggled = true; }

  get live() { return this.state === "running" || this.state === "pending"; }
  get ended() { return ENDED.includes(this.state); }
  get statusText() { return STATUS_TEXT[this.state] ?? this.state; }
  get chartHidden() { return this.state === "idle" || (this.state === "error" && this.points.length < 2); }

  // The thinking panel's header: null when there is no thinking; `open` is null once the
  // reader toggled the panel (theirs to decide), else open while the model thinks.
  thinkingHeader() {
    if (!this.thinking) return null;
    const tp = this.points.filter((p) => p[2] === "t");
    const answering = this.content.length > 0 || this.ended;
    const open = this.toggled ? null : !answering;
    if (!answering) return { text: `Thinking… ${tp.length} tokens`, open };
    const secs = tp.length ? tp[tp.length - 1][0] - (this.points.length ? this.points[0][0] : 0) : 0;
    return { text: `Thought for ${secs.toFixed(1)} s · ${tp.length} tokens`, open };
  }

  // The stats strip as [label, value] rows: the kernel's final rows once the run ended
  // (widgets.snapshot.stats_rows, the saved snapshot's table), live figures while it streams.
  statsStrip() {
    if (this.state === "error" && !this.points.length) return [];
    if (this.ended && this.statsRows.length) return this.statsRows;
    return liveRows(this.points);
  }
}
