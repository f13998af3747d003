"""StreamView's branches: regenerate from any token of a finished run with one of its
alternatives, and show the branch beside the original.

The branch run streams on a worker like any run; its new text goes to the browser as
`{"type": "branch", run_id, seq, content, state}` messages, and the whole branch is
committed to the `branch_state` trait when it starts and when it ends. The original run
stays the view's run: a branch never replaces it.
"""

from __future__ import annotations

from typing import Any

from ..run import Run, RunFrame, start_run
from ..run.branch import BranchPoint, branch_input, branch_point


def is_completion_model(model: Any) -> bool:
    """True for a text-completion model (a LangChain LLM), False for a chat model."""
    from langchain_core.language_models import BaseLLM

    while hasattr(model, "bound"):
        model = model.bound
    return isinstance(model, BaseLLM)


def check_branchable(model: Any) -> None:
    """Raise ValueError unless `model` speaks Ollama's protocol: a branch continues an
    assistant turn (/api/chat) or sends a raw prompt (/api/generate)."""
    inner = model
    while hasattr(inner, "bound"):
        inner = inner.bound
    if not any("ollama" in cls.__module__ for cls in type(inner).__mro__):
        raise ValueError(
            f"branching needs an Ollama server (it continues the answer over /api/chat or "
            f"a raw /api/generate); {type(inner).__name__} cannot continue a turn"
        )


class BranchMixin:
    """`branch(index, alternative)` for StreamView (which provides the traits, `send`,
    `_run`, `tools`, `run_kwargs`, `every`, `history` and `_update_displays`)."""

    def _init_branching(self) -> None:
        self._branch_run: Run | None = None
        self._branch_unwatch: Any = None
        self._branch_text = ""  # the branch's text up to its last frame

    @property
    def branch_run(self) -> Run | None:
        """The run of the branch shown beside the answer (None without one)."""
        return self._branch_run

    def branch(self, index: int, alternative: str) -> Run:
        """Regenerate from token `index` of the finished run shown (an index into
        `run.logprobs`, an answer token) with `alternative` in its place; return the
        branch's `Run` at once. The view shows the branch beside the original.

        Raises RuntimeError while the run is live, ValueError for a token or model that
        cannot branch. A failed generation is shown in the branch column (and on
        `run.error`)."""
        from .stream import ended

        run = self._run
        if run is None or not ended(run):
            raise RuntimeError("branch once the run has ended (view.wait() waits for it)")
        point = branch_point(run.logprobs, index, alternative)
        model = run.model if run.model is not None else self._model()
        check_branchable(model)
        chat = not is_completion_model(model)
        value, extra = branch_input(run.prompt, point, chat)
        kwargs = {**self.run_kwargs, **extra}
        try:
            new = start_run(model, value, tools=self.tools if chat else None, **kwargs)
        except Exception as exc:  # refused before it started: shown like any failure
            new = Run.failed(exc, model_name=run.model_name, prompt=value)
        self._follow_branch(new, point)
        return new

    def _branch_from_front(self, index: Any, alternative: Any) -> None:
        """A pick in the browser: errors become the branch column's message."""
        try:
            self.branch(index, alternative)
        except Exception as exc:
            from .stream import error_message

            self.branch_state = {
                "index": index if isinstance(index, int) else -1,
                "alternative": str(alternative or ""),
                "original": "",
                "prefix": "",
                "run_id": 0,
                "seq": 0,
                "state": "error",
                "content": "",
                "error": error_message(exc),
            }

    def _drop_branch(self) -> None:
        """Forget the branch (a new run is shown, or the view was cleared)."""
        if self._branch_unwatch is not None:
            self._branch_unwatch()
            self._branch_unwatch = None
        if self._branch_run is not None and not self._branch_run.done:
            self._branch_run.cancel()
        self._branch_run = None
        self.branch_state = {}

    def _follow_branch(self, run: Run, point: BranchPoint) -> None:
        from .stream import STATES

        self._drop_branch()
        self._branch_run = run
        self._branch_text = ""
        self.branch_state = {
            "index": point.index,
            "alternative": point.alternative,
            "original": point.original,
            "prefix": point.prefix,
            "run_id": run.id,
            "seq": 0,
            "state": STATES.get(run.status, "error"),
            "content": "",
            "error": "",
        }
        if self.history is not None:
            self.history.add(run)
        self._branch_unwatch = run.watch(
            self._on_branch_frame, every=self.every, min_tokens=8, max_wait=0.5
        )

    def _on_branch_frame(self, frame: RunFrame) -> None:
        from .stream import STATES, error_message

        run = self._branch_run
        if run is None or frame.run_id != run.id:
            return  # a branch no longer shown
        state = STATES.get(frame.status, "error")
        self._branch_text += frame.content
        self.send(
            {
                "type": "branch",
                "run_id": frame.run_id,
                "seq": frame.seq,
                "content": frame.content,
                "state": state if not frame.final else STATES.get(run.status, "error"),
            }
        )
        if frame.final or state != self.branch_state.get("state"):
            self.branch_state = {
                **self.branch_state,
                "content": run.content if frame.final else self._branch_text,
                "error": error_message(run.error),
                "seq": frame.seq,
                "state": STATES.get(run.status, "error") if frame.final else state,
            }
        if frame.final:
            self._update_displays()
