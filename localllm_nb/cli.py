"""`localllm-nb serve | models | pull | doctor | lab`."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys


def _serve(args) -> int:
    from .embedded.serve import serve

    with contextlib.suppress(KeyboardInterrupt):
        serve(host=args.host, port=args.port, threads=args.threads, num_parallel=args.parallel)
    return 0


def _models(args) -> int:
    from .embedded.models.registry import BUNDLED, MissingModelFiles

    for entry in BUNDLED:
        try:
            where = str(entry.path())
        except MissingModelFiles as exc:
            where = f"missing: {exc}"
        caps = ",".join(entry.capabilities)
        print(f"{entry.name:<24} ollama  {caps:<28} {where}")
    # The MLX copy of the chat model; listing never converts it (that loads mlx).
    from .backends._mlx_bundled import BUNDLED_MODEL_ID, bundled_model_path, is_converted

    mlx_dir = bundled_model_path(convert=False)
    where = str(mlx_dir) if is_converted(mlx_dir) else f"{mlx_dir} (not converted yet)"
    print(f"{BUNDLED_MODEL_ID:<24} mlx     {'completion,tools':<28} {where}")
    return 0


def _pull(args) -> int:
    from .embedded.models.pull import pull
    from .embedded.models.registry import ModelNotFound
    from .errors import ModelDownloadError

    try:
        fetched = pull(args.names or None)
    except ModelNotFound as exc:
        print(f"localllm-nb pull: no bundled model named {exc}", file=sys.stderr)
        return 1
    except ModelDownloadError as exc:
        print(f"localllm-nb pull: {exc}", file=sys.stderr)
        return 1
    print(f"pulled {', '.join(fetched)}" if fetched else "every model asked for is here")
    return 0


def _doctor(args) -> int:
    from .doctor import report

    text, healthy = report()
    print(text)
    return 0 if healthy else 1


def _lab(args) -> int:
    from .embedded import ensure_running

    url = ensure_running()
    print(f"Ollama API at {url}", flush=True)
    # `jupyter lab FILE` would serve FILE's folder only; serve where we are, so the
    # notebooks/ and widgets/ folders (and their relative links) are all reachable.
    root = (
        []
        if any("root_dir" in a for a in args.jupyter_args)
        else [f"--ServerApp.root_dir={os.getcwd()}"]
    )
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        *([args.notebook] if args.notebook else []),
        *root,
        *args.jupyter_args,
    ]
    if args.no_browser:
        cmd.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # containers and CI machines often run as root
    try:
        return subprocess.call(cmd, env={**os.environ, "OLLAMA_HOST": url})
    except KeyboardInterrupt:
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="localllm-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the embedded Ollama-compatible server")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: loopback)")
    serve.add_argument("--port", type=int, default=11434, help="port (default: 11434)")
    serve.add_argument(
        "--threads", type=int, default=0, help="llama.cpp threads (default: usable CPUs less one)"
    )
    serve.add_argument(
        "--parallel",
        type=int,
        default=0,
        help="requests one model serves at once (default: $OLLAMA_NUM_PARALLEL or 1)",
    )
    serve.set_defaults(func=_serve)
    models = sub.add_parser("models", help="list the bundled models and their files")
    models.set_defaults(func=_models)
    pull = sub.add_parser("pull", help="download bundled models whose files are missing")
    pull.add_argument("names", nargs="*", help="model names (default: every bundled model)")
    pull.set_defaults(func=_pull)
    doctor = sub.add_parser("doctor", help="what is installed and answering, and what to do")
    doctor.set_defaults(func=_doctor)
    lab = sub.add_parser("lab", help="start a backend if none answers, then JupyterLab")
    lab.add_argument("notebook", nargs="?", help="notebook to open")
    lab.add_argument("--no-browser", action="store_true", help="do not open a browser")
    lab.set_defaults(func=_lab)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.jupyter_args = extra  # `lab` passes options it does not know on to `jupyter lab`
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
