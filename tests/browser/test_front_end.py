"""The views' front-end modules in a blank Chromium page, without JupyterLab or a kernel:
every widget's joined module loads; the Markdown renderer holds against hostile model
output; the rate series matches Python's; StreamView's state machine sequences frames,
resynchronises after gaps and picks the stats strip and thinking header."""

from __future__ import annotations

import re

import pytest

from localllm_nb.run import RunFrame, TimelinePoint, rate_series
from localllm_nb.widgets import CodeBox, EmbeddingExplorer, PromptBox, StreamView
from localllm_nb.widgets._esm import esm
from localllm_nb.widgets.compare import CompareBar
from localllm_nb.widgets.snapshot import stats_rows
from localllm_nb.widgets.stream import CHANNEL_CODES, frame_message

pytestmark = pytest.mark.browser

# Imports a module's text as an ES module (a blob: URL, as a page imports any module).
IMPORT = """async (source) => {
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  try { return await import(url); } finally { URL.revokeObjectURL(url); }
}"""


@pytest.fixture(scope="module")
def js(browser):
    """A blank page with StreamView's joined module (shared.js, stream_state.js, stream.js)
    as `window.llnb`, shared by this module's tests (each builds its own state); page
    errors fail the module."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.set_content("<!doctype html><title>front end</title><body></body>")
    page.evaluate(
        f"async (source) => {{ window.llnb = await ({IMPORT})(source); }}", StreamView._esm
    )
    yield page
    context.close()
    assert errors == []


@pytest.mark.parametrize("widget", [StreamView, PromptBox, CodeBox, CompareBar, EmbeddingExplorer])
def test_each_widget_ships_one_module_with_its_own_renderer(js, widget):
    exported = js.evaluate(
        f"async (source) => {{ const m = await ({IMPORT})(source);"
        " return [typeof m.default.render, Object.keys(m)]; }",
        widget._esm,
    )
    assert exported[0] == "function"
    assert not re.search(r"^\s*import\b|\bimport\(", widget._esm, re.M)  # nothing to fetch
    others = {StreamView, PromptBox, CodeBox, CompareBar, EmbeddingExplorer} - {widget}
    assert all(other._esm != widget._esm for other in others)


def test_the_joiner_inlines_siblings_once_and_refuses_other_imports(tmp_path):
    (tmp_path / "a.js").write_text("export const a = 1;\n")
    (tmp_path / "b.js").write_text('import { a } from "./a.js";\nexport const b = a + 1;\n')
    (tmp_path / "view.js").write_text(
        'import { a } from "./a.js";\nimport { b } from "./b.js";\n'
        "export default { render() { return a + b; } };\n"
    )
    joined = esm("view.js", tmp_path)
    assert joined.count("export const a") == 1
    assert joined.index("export const a") < joined.index("export const b") < joined.index("render")
    assert "import" not in joined
    (tmp_path / "cdn.js").write_text('import { x } from "https://esm.sh/x";\nexport default {};\n')
    with pytest.raises(ValueError, match="only `import"):
        esm("cdn.js", tmp_path)
    (tmp_path / "loop.js").write_text('import { a } from "./loop.js";\nexport default {};\n')
    with pytest.raises(ValueError, match="import cycle"):
        esm("loop.js", tmp_path)


# --- Markdown: the boundary between model output and the page ---------------------------

ALLOWED_TAGS = {"p", "pre", "code", "strong", "em", "h3", "h4", "h5", "h6", "ul", "li"}

# Parses the rendered HTML the way the view does (innerHTML) and reports what it made.
PARSE = """(src) => {
  const html = window.llnb.markdown(src);
  const t = document.createElement("template");
  t.innerHTML = html;
  const els = [...t.content.querySelectorAll("*")];
  return {
    html,
    elements: els.length,
    tags: [...new Set(els.map((e) => e.localName))],
    attributes: els.flatMap((e) => [...e.attributes].map((a) => `${e.localName}[${a.name}]`)),
    text: t.content.textContent,
  };
}"""


def opening_tags(html: str) -> int:
    """How many elements `html` opens; fails unless its tags are attribute-free and nested."""
    stack: list[str] = []
    opened = 0
    for closing, name in re.findall(r"<(/?)([a-z0-9]+)>", html):
        if closing:
            assert stack and stack.pop() == name, html
        else:
            stack.append(name)
            opened += 1
    assert stack == [] and html.count("<") == 2 * opened, html
    return opened


HOSTILE = [
    "<script>window.__pwned = 1</script>",
    'Hi <img src=x onerror="window.__pwned = 1"> there',
    '[click me](javascript:alert(1)) and <a href="javascript:alert(1)">x</a>',
    "<svg onload=alert(1)><iframe srcdoc='<script>alert(1)</script>'>",
    "\" onmouseover=\"alert(1)\" x=\" and ' onfocus='alert(1)' autofocus '",
    '# <h1 onclick=alert(1)>head</h1>\n- <li style="x">item\n1. **<b>bold</b>**',
    '`<code onclick=x>` and *<em title="x">it</em>*',
    '```html"><script>alert(1)</script>\n<script>alert(2)</script>\n```',
    "```\n</code></pre><script>alert(1)</script>",
    "&lt;script&gt;alert(1)&lt;/script&gt; &amp;lt; &#60;b&#62; &#x3C;i&#x3E;",
    "**a *b** c* `x*` *y `z*` w*",
    "***x** *y***z* ****** ** * `` ` ``` `",
    "a\u0000<b>\u2028c\ufeff</b>",
]


@pytest.mark.parametrize("src", HOSTILE)
def test_markdown_never_turns_model_text_into_markup(js, src):
    out = js.evaluate(PARSE, src)
    assert set(out["tags"]) <= ALLOWED_TAGS, out["html"]
    assert out["attributes"] == [], out["html"]
    # Well-formed: every tag balanced, and the browser built one element per opening tag.
    assert opening_tags(out["html"]) == out["elements"], out["html"]
    # Whatever looked like markup is still there, as text.
    for word in ("script", "onerror", "javascript:", "onmouseover", "&lt;", "&#60;"):
        if word in src:
            assert word in out["text"], (word, out["html"])


def test_markdown_escapes_in_the_page_too(js):
    """Rendered into the document, hostile answers add no element a browser would act on."""
    flagged = js.evaluate(
        """async (inputs) => {
          const box = document.createElement("div");
          document.body.append(box);
          for (const src of inputs) box.insertAdjacentHTML("beforeend", window.llnb.markdown(src));
          await new Promise((done) => requestAnimationFrame(() => setTimeout(done, 0)));
          return [window.__pwned ?? null, box.querySelectorAll("script, img, a, svg, iframe").length];
        }""",
        HOSTILE,
    )
    assert flagged == [None, 0]


@pytest.mark.parametrize(
    ("src", "html"),
    [
        ("# Title\n## Sub", "<h3>Title</h3><h4>Sub</h4>"),
        (
            "- a\n- **b**\n\n1. c",
            "<ul><li>a</li><li><strong>b</strong></li></ul><ul><li>c</li></ul>",
        ),
        ("**bold *it* bold**", "<p><strong>bold <em>it</em> bold</strong></p>"),
        ("***both*** and 2*3*4", "<p><em><strong>both</strong></em> and 2<em>3</em>4</p>"),
        ("`a*b` *c `d` e*", "<p><code>a*b</code> <em>c <code>d</code> e</em></p>"),
        ("a * b * c", "<p>a * b * c</p>"),
        ("```py\nx = <1>\n```\nafter", "<pre><code>x = &lt;1&gt;</code></pre><p>after</p>"),
        # An answer cut mid-fence (streaming) still closes its code block.
        ("see:\n```\nif a < b:", "<p>see:</p><pre><code>if a &lt; b:</code></pre>"),
        ("Tom & \"Jerry\" 'x'", "<p>Tom &amp; &quot;Jerry&quot; &#39;x&#39;</p>"),
    ],
)
def test_markdown_subset(js, src, html):
    assert js.evaluate("(src) => window.llnb.markdown(src)", src) == html


# --- rate series ----------------------------------------------------------------------


def test_rate_series_matches_python(js):
    timeline = [
        TimelinePoint(0.40, 1, "thinking"),
        TimelinePoint(0.40, 2, "thinking"),  # two chunks in one instant: no rate from 0 s
        TimelinePoint(0.45, 3, "thinking"),
        *(TimelinePoint(0.5 + 0.02 * i + 0.01 * (i % 3), 4 + i, "content") for i in range(20)),
    ]
    points = [[p.t, p.tokens, CHANNEL_CODES[p.channel]] for p in timeline]
    for window in (1, 3, 8):
        got = js.evaluate("([points, w]) => window.llnb.rates(points, w)", [points, window])
        want = rate_series(timeline, window=window)
        assert len(got) == len(want) > 0
        for (t, rate, channel), (pt, prate, pchannel) in zip(got, want, strict=True):
            assert (t, channel) == (pt, CHANNEL_CODES[pchannel])
            assert rate == pytest.approx(prate, rel=1e-12)
    assert js.evaluate("() => window.llnb.rates([[0.5, 1, 'c']])") == []


# --- StreamView's state machine ---------------------------------------------------------

IDLE = {"run_id": 7, "seq": 0, "content": "", "thinking": "", "points": [], "tool_calls": []}
IDLE |= {"state": "pending", "stats": {}, "stats_rows": [], "error": ""}


def frame(seq: int, run_id: int = 7, status: str = "running", **kw) -> dict:
    """A frame message exactly as StreamView sends it (stream.frame_message)."""
    points = tuple(TimelinePoint(*p) for p in kw.pop("points", ()))
    return frame_message(
        RunFrame(run_id=run_id, seq=seq, status=status, t=0.0, points=points, **kw)
    )


# Feeds frames to a StreamState built from `traits`; returns outcomes and the state after.
FEED = """([traits, frames]) => {
  const s = new window.llnb.StreamState(traits);
  const outcomes = frames.map((f) => s.receive(f));
  return { outcomes, runId: s.runId, seq: s.seq, content: s.content, thinking: s.thinking,
           points: s.points.length, tools: s.tools, state: s.state, waiting: s.waiting };
}"""


def test_frames_in_order_build_the_text_and_name_the_phases(js):
    frames = [
        frame(1, thinking="Let me ", points=[(0.3, 1, "thinking")]),
        frame(2, thinking="think.", points=[(0.4, 2, "thinking")]),
        frame(3, content="Hello", points=[(0.5, 3, "content")]),
        frame(4, content=" world", tool_calls=({"name": "f", "args": {"x": 1}},)),
        frame(5, status="cancelled", final=True),
    ]
    out = js.evaluate(FEED, [IDLE, frames])
    assert out["outcomes"] == ["phase", "step", "phase", "step", "phase"]
    assert (out["content"], out["thinking"], out["seq"]) == ("Hello world", "Let me think.", 5)
    assert out["points"] == 3 and out["tools"] == [{"name": "f", "args": {"x": 1}}]
    assert out["state"] == "stopped" and not out["waiting"]


def test_repeated_and_late_frames_are_ignored(js):
    frames = [
        frame(1, content="a"),
        frame(2, content="b"),
        frame(2, content="b"),
        frame(1, content="a"),
    ]
    frames.append({"type": "other", "content": "x"})
    out = js.evaluate(FEED, [IDLE, frames])
    assert out["outcomes"] == ["phase", "step", "ignored", "ignored", "ignored"]
    assert (out["content"], out["seq"]) == ("ab", 2)


def test_a_gap_waits_for_the_next_commit_and_resyncs_from_it(js):
    out = js.evaluate(
        """([traits, frames, commit]) => {
          const s = new window.llnb.StreamState(traits);
          const outcomes = frames.map((f) => s.receive(f));
          const waiting = s.waiting, stale = s.needsResync({ run_id: 7, seq: 1 });
          s.resync(commit);
          const after = s.receive(commit.next);
          return { outcomes, waiting, stale, after, content: s.content, seq: s.seq };
        }""",
        [
            IDLE,
            [frame(1, content="one "), frame(3, content="three "), frame(2, content="two ")],
            IDLE
            | {"seq": 3, "content": "one two three ", "state": "running"}
            | {"next": frame(4, content="four")},
        ],
    )
    # Frame 2 came after 3: the view stops appending rather than show "one three two".
    assert out["outcomes"] == ["phase", "gap", "gap"]
    assert out["waiting"] and out["stale"]  # even an older commit is better than a gap
    assert (out["after"], out["content"], out["seq"]) == ("step", "one two three four", 4)


def test_a_commit_during_the_run_keeps_the_points_frames_brought(js):
    out = js.evaluate(
        """([traits, frames, commit]) => {
          const s = new window.llnb.StreamState(traits);
          frames.forEach((f) => s.receive(f));
          s.resync(commit);  // mid-run commits carry the text, not the points
          const kept = [s.points.length, s.content];
          s.resync({ ...commit, state: "done" });  // a status commit before the final one
          kept.push(s.points.length);
          s.resync({ ...commit, state: "idle" });  // view.clear(): nothing to keep
          return [...kept, s.points.length];
        }""",
        [
            IDLE,
            [
                frame(1, content="a", points=[(0.5, 1, "content")]),
                frame(2, points=[(0.6, 2, "content")]),
            ],
            IDLE | {"seq": 2, "content": "ab", "state": "running"},
        ],
    )
    assert out == [2, "ab", 2, 0]


def test_a_commit_older_than_the_frames_changes_nothing(js):
    out = js.evaluate(
        """([traits, frames]) => {
          const s = new window.llnb.StreamState(traits);
          frames.forEach((f) => s.receive(f));
          return [s.needsResync({ run_id: 7, seq: 1 }), s.needsResync({ run_id: 7, seq: 2 }),
                  s.needsResync({ run_id: 8, seq: 0 })];
        }""",
        [IDLE, [frame(1, content="a"), frame(2, content="b")]],
    )
    assert out == [False, True, True]


def test_a_new_runs_first_frame_starts_afresh_and_other_runs_frames_wait(js):
    ended = IDLE | {"seq": 9, "content": "old answer", "thinking": "old", "state": "done"}
    ended |= {"stats_rows": [["TTFT", "0.10 s"]], "points": [[0.1, 1, "c"], [0.2, 2, "c"]]}
    out = js.evaluate(
        FEED, [ended, [frame(4, run_id=8, content="x"), frame(1, run_id=9, content="new")]]
    )
    assert out["outcomes"] == ["gap", "phase"]
    assert (out["runId"], out["seq"], out["content"], out["thinking"]) == (9, 1, "new", "")
    assert out["points"] == 0 and not out["waiting"]


# --- what the state shows ---------------------------------------------------------------

SHOW = """([traits, frames]) => {
  const s = new window.llnb.StreamState(traits);
  const seen = [];
  for (const f of frames) {
    if (f === "toggle") { s.readerToggled(); continue; }
    if (f.commit) { s.resync(f.commit); } else { s.receive(f); }
    seen.push({ header: s.thinkingHeader(), strip: s.statsStrip(), status: s.statusText,
                chartHidden: s.chartHidden, live: s.live });
  }
  return seen;
}"""


def test_thinking_header_opens_while_thinking_and_folds_for_the_answer(js):
    seen = js.evaluate(
        SHOW,
        [
            IDLE,
            [
                frame(1, thinking="Hmm", points=[(0.5, 1, "thinking"), (0.9, 2, "thinking")]),
                frame(2, content="Yes", points=[(1.0, 3, "content")]),
                "toggle",
                frame(3, content="!", points=[(1.1, 4, "content")]),
                frame(1, run_id=8, content="No thinking"),
            ],
        ],
    )
    assert seen[0]["header"] == {"text": "Thinking… 2 tokens", "open": True}
    assert seen[1]["header"] == {"text": "Thought for 0.4 s · 2 tokens", "open": False}
    assert seen[2]["header"]["open"] is None  # the reader opened it: it stays as they set it
    assert seen[3]["header"] is None  # the next run has no thinking


def test_stats_strip_live_figures_then_the_kernels_final_rows(js):
    final = {"ttft_s": 0.5, "client_tps": 10.0, "server_tps": 11.25, "prompt_tps": None}
    final |= {"tokens": 3, "load_s": 0.0, "done_reason": "length", "peak_memory_gb": 1.5}
    rows = [list(r) for r in stats_rows(final)]
    done = IDLE | {"seq": 2, "content": "ab", "state": "done", "stats": final, "stats_rows": rows}
    done |= {"points": [[0.5, 1, "c"], [0.6, 2, "c"], [0.7, 3, "c"]]}
    seen = js.evaluate(
        SHOW,
        [
            IDLE,
            [
                frame(1, content="a", points=[(0.5, 1, "content")]),
                frame(2, content="b", points=[(0.6, 2, "content"), (0.75, 4, "content")]),
                frame(3, status="done", final=True),
                {"commit": done},
                {"commit": IDLE | {"run_id": 8, "state": "error", "error": "No server"}},
                {"commit": IDLE | {"state": "idle"}},
            ],
        ],
    )
    assert seen[0]["strip"] == [["TTFT", "0.50 s"], ["tokens", "1"], ["tokens/s", "0.0"]]
    assert seen[1]["strip"] == [["TTFT", "0.50 s"], ["tokens", "4"], ["tokens/s", "12.0"]]
    assert seen[1]["status"] == "generating…" and seen[1]["live"]
    # The last frame ends the run before the kernel's figures arrive: live figures meanwhile.
    assert seen[2]["strip"] == seen[1]["strip"] and seen[2]["status"] == "done"
    # Then exactly the rows the saved snapshot's table shows (snapshot.stats_rows).
    assert seen[3]["strip"] == rows and seen[3]["status"] == "done" and not seen[3]["live"]
    assert ["peak memory", "1.50 GB"] in rows and ["prompt tok/s", "-"] in rows
    assert seen[4]["strip"] == [] and seen[4]["chartHidden"]  # failed before any token
    assert seen[5]["status"] == "" and seen[5]["chartHidden"]


# --- one Markdown, two renderers --------------------------------------------------------

SUBSET_SOURCES = [
    "# Title\n## Sub",
    "- a\n- **b**\n\n1. c",
    "**bold *it* bold**",
    "***both*** and 2*3*4",
    "`a*b` *c `d` e*",
    "a * b * c",
    "```py\nx = <1>\n```\nafter",
    "see:\n```\nif a < b:",
    "Tom & \"Jerry\" 'x'",
    "## Steps\n1. Boil **water**\n2. Add `salt`\n\nThen *wait*.\n```python\nprint('<hi>')\n```",
]


@pytest.mark.parametrize("src", SUBSET_SOURCES + HOSTILE)
def test_the_saved_snapshot_renders_markdown_as_the_live_view_does(js, src):
    """The live view renders Markdown in the browser, a saved notebook's snapshot in
    Python (widgets/markdown.py): the same text must give the same HTML, or they drift."""
    from localllm_nb.widgets.markdown import markdown_html

    assert markdown_html(src) == js.evaluate("(src) => window.llnb.markdown(src)", src)


# StreamView's renderer drawn in the page from a stand-in model (traits + change events,
# which is all the renderer asks of anywidget's model).
RENDER_WITH_CONTEXT = """async ([source, context, later]) => {
  const m = await (IMPORT)(source);
  const traits = { run_id: 1, seq: 1, content: "ok", thinking: "", points: [], tool_calls: [],
    state: "done", stats: {}, stats_rows: [], error: "", transcript: [], empty_text: "",
    model_name: "m", context };
  const handlers = {};
  const model = { get: (n) => traits[n], on: (e, f) => { handlers[e] = f; }, send: () => {} };
  const el = document.createElement("div");
  document.body.append(el);
  m.default.render({ model, el });
  const read = () => { const c = el.querySelector(".llnb-context");
    return [c.hidden, c.dataset.truncated ?? null, el.querySelector(".llnb-context-fill").style.width,
      el.querySelector(".llnb-context-text").textContent, c.classList.contains("llnb-context-cut"),
      c.classList.contains("llnb-context-near")]; };
  const reads = [read()];
  for (const state of later) { traits.context = state; handlers["change:context"](); reads.push(read()); }
  return reads;
}""".replace("(IMPORT)", f"({IMPORT})")


def test_the_context_bar_shows_the_fill_and_the_cut(js):
    cut = {
        "used": 119,
        "limit": 128,
        "fraction": 0.9297,
        "truncated": True,
        "message": "context: 119 of 128 tokens (93%); the prompt needed 270 tokens",
    }
    near = {**cut, "truncated": False, "near_full": True, "message": "nearly full"}
    shown, cleared, warned = js.evaluate(RENDER_WITH_CONTEXT, [StreamView._esm, cut, [{}, near]])
    assert shown == [False, "true", "93%", cut["message"], True, False]
    assert cleared[0] is True  # no figures (a new run, an error): no bar
    assert warned == [False, "false", "93%", "nearly full", False, True]


# --- the explorer's map: view math and the point under the pointer -------------------


@pytest.fixture(scope="module")
def explorer_js(browser):
    """A blank page with EmbeddingExplorer's joined module as `window.ex`."""
    page = browser.new_context().new_page()
    page.set_content("<!doctype html><title>explorer</title><body></body>")
    page.evaluate(
        f"async (source) => {{ window.ex = await ({IMPORT})(source); }}", EmbeddingExplorer._esm
    )
    yield page
    page.context.close()


def test_zoom_keeps_the_point_under_the_pointer_and_pan_moves_by_a_fraction(explorer_js):
    zoomed, panned, back = explorer_js.evaluate(
        """() => {
          const v = [0, 1, 0, 1], z = ex.zoomAt(v, 0.25, 0.75, 4);
          return [z, ex.panBy(z, 0.5, -1), ex.zoomAt(z, 0.25, 0.75, 0.25)];
        }"""
    )
    assert zoomed == pytest.approx([0.1875, 0.4375, 0.5625, 0.8125])
    # The point at fraction (0.25, 0.75) is 0.25, 0.75 in both views.
    assert zoomed[0] + 0.25 * (zoomed[1] - zoomed[0]) == pytest.approx(0.25)
    assert panned == pytest.approx([0.3125, 0.5625, 0.3125, 0.5625])
    assert back == pytest.approx([0, 1, 0, 1])


def test_the_grid_finds_the_same_point_as_a_search_of_every_point(explorer_js):
    import numpy as np

    rng = np.random.default_rng(3)
    xy = rng.integers(0, 65536, size=(20_000, 2)).astype(int).ravel().tolist()
    probes = rng.random((200, 2)).tolist()
    found = explorer_js.evaluate(
        """([xy, probes]) => {
          const a = Uint16Array.from(xy), g = ex.buildGrid(a, a.length / 2);
          const hidden = (i) => i % 7 !== 0; // every 7th point hidden: never picked
          return probes.map(([u, v]) => ex.nearest(g, a, u, v, 0.01, hidden));
        }""",
        [xy, probes],
    )
    pts = np.array(xy).reshape(-1, 2) / 65535
    for (u, v), got in zip(probes, found, strict=True):
        d = np.hypot(pts[:, 0] - u, pts[:, 1] - v)
        d[::7] = np.inf
        best = int(np.argmin(d))
        assert got == (best if d[best] <= 0.01 else -1)


# --- The token lens ---------------------------------------------------------------------


def test_lens_decoding_buckets_and_entropy_match_python(js):
    from localllm_nb.run.tokens import Alternative, TokenLogprob, entropy
    from localllm_nb.widgets.lens import bucket, unpack

    toks = (
        TokenLogprob(
            "Hé", -0.02, "Hé".encode(), (Alternative("Hé", -0.02), Alternative("<b>", -4.0))
        ),
        TokenLogprob(" why", -1.3, b" why", (Alternative(" how", -0.9),), "thinking"),
        TokenLogprob("!", -7.5, b"!"),
    )
    message = frame(1, content="Hé!", logprobs=toks)
    got = js.evaluate("(m) => window.llnb.decodeLens(m.lens)", message)
    want = unpack(message["lens"])
    channels = {"c": "content", "t": "thinking"}
    assert [(t["text"], t["lp"], t["ch"], [tuple(a) for a in t["alts"]]) for t in got] == [
        (text, lp, channels[ch], alts) for text, lp, ch, alts in want
    ]
    probabilities = [1.0, 0.9, 0.8999, 0.7, 0.5, 0.31, 0.3, 0.1, 0.0999, 0.0]
    assert js.evaluate("(ps) => ps.map(window.llnb.bucket)", probabilities) == [
        bucket(p) for p in probabilities
    ]
    entropies = js.evaluate("(ts) => ts.map(window.llnb.entropy)", got)
    assert entropies[2] is None and entropies[0] == pytest.approx(entropy(toks[0]), abs=1e-3)
    # Tokens come in frames; a gap leaves them incomplete until the end's `lens_data`.
    out = js.evaluate(
        """([traits, frames, end]) => {
          const s = new window.llnb.StreamState(traits);
          s.receive(frames[0]); s.receive(frames[2]);  // frame 2 lost
          s.resync({...traits, seq: 3});
          const gap = [s.tokens.length, s.tokensComplete];
          s.resync(end);
          return [gap, s.tokens.length, s.tokensComplete];
        }""",
        [
            IDLE,
            [message, frame(2, content="x"), frame(3, content="y")],
            {**IDLE, "seq": 4, "state": "done", "lens_data": message["lens"]},
        ],
    )
    assert out == [[3, False], 3, True]
