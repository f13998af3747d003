"""The engine host: the process of its own in which the server's llama.cpp instances
live. Run as a script by `instance.EngineHost`.

Why a process: xllamacpp's constructor holds the GIL for the whole model load (0.4-0.9 s
measured), and nothing else in the process runs meanwhile: in the server's process that
froze its event loop (every other client, `/api/ps`, disconnect detection). Here the load
holds the host's GIL only; the server waits on a pipe with its own released, and the
instances already loaded keep serving, since llama-server's HTTP threads are native code.

The protocol, one JSON line each way:
- `{"op": "load", "id": N, "config": {...}}` -> `{"id": N, "address": ..., "buffers":
  {...}, "errors": [...]}`, or `{"id": N, "error": "..."}` when the load failed;
- `{"op": "unload", "id": N}` -> no reply: the instance is dropped and its memory handed
  back to the system;
- `{"op": "trim"}` -> no reply: freed heap pages go back to the system (sent after each
  request, as the server trims its own: a long prompt's tokens, a big embedding).
The host exits at once when its stdin closes (the server closed it, or died).

Run by path, not as a module: importing the `localllm_nb` package would cost 0.7 s. Its
two helpers (`native_log`, `memory`) import only the standard library and are loaded by
path too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path


def sibling(name: str):
    """A module of this folder, loaded by path (see the module's docstring)."""
    spec = importlib.util.spec_from_file_location(
        f"_engine_host_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def engine_params(xlc, config: dict):
    """xllamacpp's parameters for `config` (see `instance.LlamaInstance`)."""
    params = xlc.CommonParams()
    params.model.path = config["model_path"]
    params.warmup = False
    # llama.cpp's "fit" step loads the model a first time without memory to size its
    # buffers, and would shrink n_ctx to fit: half the load's time (0.41 s of 0.78 s
    # measured). Off, a context that does not fit fails to load instead of being
    # silently shortened.
    params.fit_params = False
    parallel = config["parallel"]
    params.n_parallel = parallel
    # Each parallel slot gets n_ctx / n_parallel of the KV cache: give each a full context.
    params.n_ctx = config["n_ctx"] * parallel
    params.cpuparams.n_threads = config["threads"]
    params.cpuparams_batch.n_threads = config["batch_threads"]
    # Idle threads sleep instead of spinning: on a shared, oversubscribed machine a
    # spinning thread takes the core from the thread with work (measured faster here).
    params.cpuparams.poll = params.cpuparams_batch.poll = 0
    # The host-memory prompt cache could hand a request KV state computed in another
    # batch shape; requests never reuse cached prompts (see llama.py), so keep none.
    params.cache_ram_mib = 0
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.api_keys = [config["api_key"]]
    params.ui = False
    params.endpoint_slots = False
    params.endpoint_metrics = False
    params.n_threads_http = config["http_threads"]
    if config["embedding"] or config["pooled"]:
        params.embedding = True
        params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    params.n_batch = params.n_ubatch = config["n_batch"]
    return params


def load(xlc, native_log, config: dict):
    """(server, reply) for one load; server is None when it failed."""
    params = engine_params(xlc, config)
    server = None
    with native_log.LoadLog() as log:
        params.verbosity = log.verbosity
        try:
            server = xlc.Server(params)
        except Exception as exc:  # reported to the server, which raises it
            error = f"{type(exc).__name__}: {exc}"
    if server is None:
        detail = "; ".join(log.errors)
        return None, {"error": f"{error} ({detail})" if detail else error}
    reply = {"address": server.listening_address, "buffers": log.buffers, "errors": log.errors}
    return server, reply


def main() -> None:
    # Replies go to the real stdout; anything native code prints goes to stderr, so that
    # nothing but replies can reach the pipe.
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    native_log, memory = sibling("native_log"), sibling("memory")
    memory.limit_malloc_arenas()
    import xllamacpp as xlc

    servers = {}
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "load":
            server, reply = load(xlc, native_log, command["config"])
            if server is not None:
                servers[command["id"]] = server
            del server  # the dict holds the only reference: unloading frees the model
            replies.write(json.dumps({"id": command["id"], **reply}) + "\n")
        elif command["op"] == "unload":
            # Dropping the last reference stops llama-server's loop and frees the model.
            servers.pop(command["id"], None)
            memory.release_memory()
        elif command["op"] == "trim":
            memory.release_memory()
    os._exit(0)  # freeing the models is the system's job: no teardown to wait for


if __name__ == "__main__":
    main()
