"""`python -m localllm_nb.embedded [--host H] [--port P]`: the embedded Ollama server."""

import sys

from localllm_nb.cli import main

if __name__ == "__main__":
    sys.exit(main(["serve", *sys.argv[1:]]))
