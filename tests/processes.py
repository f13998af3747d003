"""The embedded server's processes: the server and its engine host (where llama.cpp runs,
`localllm_nb/embedded/engine/host.py`), for tests and benchmarks that measure them."""

from __future__ import annotations


def server_processes(pid: int) -> list:
    """psutil processes: the server, then its children (the engine host, once loaded)."""
    import psutil

    server = psutil.Process(pid)
    return [server, *server.children(recursive=True)]


def engine_host(pid: int):
    """The server's engine host, or None before its first llama.cpp load."""
    import psutil

    for proc in server_processes(pid)[1:]:
        try:
            if any(arg.endswith("host.py") for arg in proc.cmdline()):
                return proc
        except psutil.Error:  # a child that has just ended
            continue
    return None


def server_memory(pid: int) -> tuple[int, int]:
    """(rss, pss) in bytes of the server and its engine host together (PSS counts pages
    the two share once)."""
    import psutil

    rss = pss = 0
    for proc in server_processes(pid):
        try:
            mem = proc.memory_full_info()
        except psutil.Error:
            continue
        rss, pss = rss + mem.rss, pss + mem.pss
    return rss, pss
