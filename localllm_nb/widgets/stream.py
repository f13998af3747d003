"""StreamView: one generation (or a chat) streamed live, with Stop, chart and stats.

Generation runs on a worker thread, so the cell ends at once and the Stop button is
handled while tokens flow (a cell that loops itself blocks widget events). The view
follows the run in coalesced frames (`Run.watch`): each frame goes to the browser as one
custom message holding only what is new; the whole text is committed to traits every
two seconds and at the end, so a reloaded page or a view that missed a message
resynchronises from them. When a run ends, every place the view is displayed is
updated with a static snapshot (HTML + PNG chart) beside the widget, for saved notebooks.

Token lens: when the run records logprobs (`ModelSpec(logprobs=True, top_logprobs=5)`),
each frame's message carries its new tokens packed (`lens.LensPacker`: a few strings, not
an object per token) and the view shades them while `lens` is on; `branch(index,
alternative)` regenerates from any token with another alternative, shown beside the
original (`stream_branch.py`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import traitlets

from ..run import Run, RunFrame, start_run
from ._base import SnapshotDisplay, View
from ._esm import esm
from .context_bar import context_state
from .lens import LensPacker
from .snapshot import snapshot_bundle, stats_rows, view_stats
from .stream_branch import BranchMixin

# Run status -> the view's state.
STATES = {"pending": "pending", "running": "running", "done": "done", "cancelled": "stopped"}
CHANNEL_CODES = {"content": "c", "thinking": "t"}


def ended(run: Run) -> bool:
    """True once the run has its final status (observers of its end see it before
    `run.done`, which wakes waiters after them)."""
    return run.status not in ("pending", "running")


def error_message(error: BaseException | None) -> str:
    """One line for the view: the toolkit's messages as they are, others with their type.

    >>> error_message(ValueError("bad"))
    'ValueError: bad'
    """
    if error is None:
        return ""
    from ..errors import LocalLLMError

    if isinstance(error, LocalLLMError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def frame_message(frame: RunFrame, packer: LensPacker | None = None) -> dict[str, Any]:
    """The custom message a frame becomes: only what is new, points as [t, tokens, ch],
    and the new tokens' logprobs packed by `packer` (`lens`, when the run records them)."""
    message = {
        "type": "frame",
        "run_id": frame.run_id,
        "seq": frame.seq,
        "status": frame.status,
        "content": frame.content,
        "thinking": frame.thinking,
        "points": [
            [round(p.t, 4), p.tokens, CHANNEL_CODES[p.channel]]
            for p in frame.points
            if p.channel in CHANNEL_CODES
        ],
        "tool_calls": [dict(c) for c in frame.tool_calls],
        "final": frame.final,
    }
    if frame.logprobs:
        message["lens"] = (packer or LensPacker()).pack(frame.logprobs)
    return message


class StreamView(BranchMixin, SnapshotDisplay, View):
    """A live view of generations: `view.run(prompt)` starts one and returns its `Run`.

    `model` is a ModelSpec, a model name or a LangChain chat model/LLM. With
    `chat=True` each run continues the conversation (`messages`, `clear()`). Keyword
    arguments (e.g. `reasoning=True`) go to every run; `tools` are bound to chat runs.
    `every` is the frame period (at most 10 messages a second by default);
    `commit_every` how often the whole text is committed to the traits (each commit
    resends it, so this sets most of a long answer's traffic). `lens=True` turns the
    token lens on (shading needs a model asked for `logprobs`).
    """

    _esm = esm("stream.js")
    state = traitlets.Unicode("idle", help="idle | pending | running | done | stopped | error").tag(
        sync=True
    )
    run_id = traitlets.Int(0, help="Id of the run shown (0: none yet).").tag(sync=True)
    seq = traitlets.Int(0, help="Last frame included in content/thinking.").tag(sync=True)
    model_name = traitlets.Unicode("", help="The model of the run shown.").tag(sync=True)
    content = traitlets.Unicode("", help="Answer text as of frame `seq`.").tag(sync=True)
    thinking = traitlets.Unicode("", help="Reasoning text as of frame `seq`.").tag(sync=True)
    tool_calls = traitlets.List(help="Tool calls as of frame `seq`.").tag(sync=True)
    points = traitlets.List(help="[t, tokens, channel] of the run, set when it ends.").tag(
        sync=True
    )
    stats = traitlets.Dict(help="Final figures of the run (RunStats + done_reason).").tag(sync=True)
    stats_rows = traitlets.List(
        help="The final stats strip as [label, value] rows (the snapshot's table)."
    ).tag(sync=True)
    error = traitlets.Unicode("", help="What went wrong, in one message.").tag(sync=True)
    context = traitlets.Dict(
        help="Context use of the run shown, set when it ends: used, limit, fraction, "
        "truncated, message ({} without figures)."
    ).tag(sync=True)
    transcript = traitlets.List(help="Chat turns shown above the current answer.").tag(sync=True)
    empty_text = traitlets.Unicode(
        "No run yet: call view.run(prompt).", help="What the view says before its first run."
    ).tag(sync=True)
    lens = traitlets.Bool(
        False, help="Token lens: shade the answer by token probability (needs logprobs)."
    ).tag(sync=True)
    lens_data = traitlets.Dict(
        help="All the run's token logprobs packed (lens.LensPacker), set when it ends."
    ).tag(sync=True)
    branch_state = traitlets.Dict(
        help="The branch shown beside the answer: index, alternative, original, prefix, "
        "run_id, seq, state, content, error ({} without one)."
    ).tag(sync=True)

    def __init__(
        self,
        model: Any = None,
        *,
        chat: bool = False,
        tools: list | None = None,
        every: float = 0.1,
        commit_every: float = 2.0,
        lens: bool = False,
        **run_kwargs: Any,
    ):
        super().__init__()
        self.lens = lens
        self.model = model
        self.chat = chat
        self.tools = tools
        self.every = every
        self.commit_every = commit_every
        self.run_kwargs = run_kwargs
        self.history: Any = None  # a RunHistory that receives every run, if set
        self._messages: list[dict[str, Any]] = []
        self._run: Run | None = None
        self._built: tuple[Any, Any] | None = None  # (spec, model built from it)
        self._handles: list[Any] = []
        self._acc = ["", "", []]  # content, thinking, tool calls up to the last frame
        self._last_commit = 0.0
        self._unwatch = None
        self._packer = LensPacker()
        self._init_branching()
        self.on_msg(self._on_msg)
        self.observe(self._lens_switched, names=["lens"])

    # --- public API -----------------------------------------------------------------

    @property
    def last_run(self) -> Run | None:
        """The run shown (live or finished)."""
        return self._run

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The conversation so far (chat mode): role/content dicts."""
        return [dict(m) for m in self._messages]

    @property
    def running(self) -> bool:
        """True while a run is pending or generating."""
        return self._run is not None and not self._run.done

    def run(self, prompt_or_messages: Any) -> Run:
        """Start a generation off the cell and return its `Run` at once.

        Errors (no server, missing model, bad input) end the run and show in the view;
        they are also on `run.error`.
        """
        if self.running:
            raise RuntimeError("a run is in progress: call view.stop() first, or view.wait()")
        value = self._input(prompt_or_messages)
        model = self._model()
        kwargs = dict(self.run_kwargs)
        try:
            run = start_run(model, value, tools=self.tools, **kwargs)
        except Exception as exc:  # refused before it started: show it like any failure
            run = Run.failed(exc, model_name=str(getattr(model, "model", model)), prompt=value)
        self.show(run)
        return run

    def show(self, run: Run) -> None:
        """Follow `run` (started here or elsewhere) in this view, from its start."""
        if self._unwatch is not None:
            self._unwatch()
        self._run = run
        self._acc = ["", "", []]
        self._packer = LensPacker()
        self._last_commit = time.monotonic()
        self._drop_branch()
        with self.hold_sync():
            self.run_id = run.id
            self.seq = 0
            self.model_name = run.model_name
            self.content = self.thinking = self.error = ""
            self.tool_calls, self.points, self.stats, self.stats_rows = [], [], {}, []
            self.context, self.lens_data = {}, {}
            self.transcript = [
                {"role": m["role"], "content": str(m.get("content") or "")}
                for m in self._messages
                if m.get("role") in ("user", "assistant")
            ]
            self.state = STATES.get(run.status, "error")
        self._update_displays(with_snapshot=False)
        if self.history is not None:
            self.history.add(run)
        # At most one message per `every`, and at least 8 new tokens (or 0.5 s) in each:
        # a message costs ~750 bytes of envelope whatever it carries.
        self._unwatch = run.watch(self._on_frame, every=self.every, min_tokens=8, max_wait=0.5)

    def wait(self, timeout: float | None = None) -> Run | None:
        """Block until the run shown ends (or `timeout` seconds pass); return it."""
        if self._run is not None:
            self._run.wait(timeout)
        return self._run

    async def arun(self, prompt_or_messages: Any) -> Run:
        """`run` for async code: awaits the end without blocking the event loop."""
        run = self.run(prompt_or_messages)
        # Observers (this view included) see the end before `run.done`: wait for the
        # run itself, on an executor thread, so the caller gets a finished run.
        await asyncio.get_running_loop().run_in_executor(None, run.wait)
        return run

    def stop(self) -> None:
        """Stop the run shown; its partial text and stats stay."""
        if self._run is not None:
            self._run.cancel()

    def clear(self) -> None:
        """Forget the conversation and the answer shown (stops a live run first)."""
        self.stop()
        self._drop_branch()
        self._messages.clear()
        with self.hold_sync():
            self.transcript = []
            self.content = self.thinking = self.error = ""
            self.tool_calls, self.points, self.stats, self.stats_rows = [], [], {}, []
            self.context, self.lens_data = {}, {}
            self.state = "idle"
        self._update_displays(with_snapshot=False)

    def __repr__(self) -> str:
        name = self.model_name or _model_label(self.model)
        mode = ", chat=True" if self.chat else ""
        return f"StreamView(model={name!r}, state={self.state!r}{mode})"

    # --- snapshot -------------------------------------------------------------------

    def _snapshot(self) -> dict[str, Any] | None:
        run = self._run
        if run is None or not ended(run):
            return None
        lens = self.lens and bool(run.logprobs)
        return snapshot_bundle(run, self.error, self.context, lens=lens, branch=self.branch_state)

    # --- internals ------------------------------------------------------------------

    def _model(self) -> Any:
        from ..spec import ModelSpec

        model = self.model
        if model is None:
            raise ValueError("StreamView needs a model: StreamView(ModelSpec(model=...))")
        if isinstance(model, str):
            model = ModelSpec(model=model)
        if isinstance(model, ModelSpec) and self._built and self._built[0] == model:
            return self._built[1]  # built on an earlier run (MLX loads are slow)
        return model

    def _input(self, value: Any) -> Any:
        if not self.chat:
            return value
        if isinstance(value, str):
            self._messages.append({"role": "user", "content": value})
        elif isinstance(value, (list, tuple)):
            self._messages.extend(_as_dict(m) for m in value)
        else:
            raise TypeError(f"a chat takes a string or a list of messages, not {type(value)}")
        return self.messages

    def _on_frame(self, frame: RunFrame) -> None:
        if frame.run_id != self.run_id:
            return  # a frame of a run no longer shown
        self.send(frame_message(frame, self._packer))
        acc = self._acc
        acc[0] += frame.content
        acc[1] += frame.thinking
        acc[2] = acc[2] + [dict(c) for c in frame.tool_calls]
        if frame.final:
            self._end(frame)
            return
        state = STATES.get(frame.status, frame.status)
        now = time.monotonic()
        if state != self.state or now - self._last_commit >= self.commit_every:
            self._last_commit = now
            with self.hold_sync():
                self.content, self.thinking, self.tool_calls = acc[0], acc[1], acc[2]
                self.seq = frame.seq
                self.state = state

    def _end(self, frame: RunFrame) -> None:
        run = self._run
        if run is None:
            return
        from ..spec import ModelSpec

        if isinstance(self.model, ModelSpec) and run.model is not None and run.spec == self.model:
            self._built = (run.spec, run.model)
        with self.hold_sync():
            self.content, self.thinking, self.tool_calls = run.content, run.thinking, self._acc[2]
            self.points = [
                [round(p.t, 4), p.tokens, CHANNEL_CODES[p.channel]]
                for p in run.timeline
                if p.channel in CHANNEL_CODES
            ]
            figures = view_stats(run)
            self.stats = _jsonable(figures)
            self.stats_rows = [list(row) for row in stats_rows(figures)]
            self.error = error_message(run.error)
            self.lens_data = LensPacker().pack(run.logprobs) if run.logprobs else {}
            self.seq = frame.seq
            self.state = STATES.get(run.status, "error")
        # After the outcome is synced: for a server that reports no context size this
        # asks it, and the final frame has already told the browser the run ended.
        self.context = context_state(run, chat=self.chat)
        if self.chat:
            if run.content or run.tool_calls:
                self._messages.append({"role": "assistant", "content": run.content})
            elif run.status == "error" and self._messages and self._messages[-1]["role"] == "user":
                self._messages.pop()  # nothing came back: a retry sends the turn again
        self._update_displays()

    def _on_msg(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "stop":
            self.stop()
        elif content.get("type") == "branch":
            self._branch_from_front(content.get("index"), content.get("alternative"))

    def _lens_switched(self, _change: Any) -> None:
        # The snapshot shades the answer only while the lens is on.
        if self._run is not None and ended(self._run):
            self._update_displays()


def _as_dict(message: Any) -> dict[str, Any]:
    if isinstance(message, dict):
        return dict(message)
    if isinstance(message, (tuple, list)) and len(message) == 2:
        return {"role": str(message[0]), "content": message[1]}
    role = {"human": "user", "ai": "assistant"}.get(getattr(message, "type", ""), "user")
    return {"role": role, "content": getattr(message, "content", str(message))}


def _model_label(model: Any) -> str:
    return str(getattr(model, "model", None) or getattr(model, "model_id", None) or model or "")


def _jsonable(stats: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stats.items() if v is None or isinstance(v, (int, float, str))}
