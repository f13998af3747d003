"""ModelSpec: validation messages, JSON round trip, kwargs -> real LangChain objects,
and to_code() executed in a fresh Jupyter kernel."""

from __future__ import annotations

import json
import textwrap

import langchain_ollama
import pytest

from localllm_nb import ModelSpec, SpecError
from localllm_nb.spec import FIELDS_BY_TARGET

FULL_CHAT = dict(
    model="smollm2:135m",
    reasoning=False,
    validate_model_on_init=False,
    mirostat=1,
    mirostat_eta=0.2,
    mirostat_tau=4.0,
    num_ctx=1024,
    num_gpu=0,
    num_thread=2,
    num_predict=16,
    repeat_last_n=32,
    repeat_penalty=1.2,
    temperature=0.0,
    seed=7,
    stop=["\n\n"],
    tfs_z=1.0,
    top_k=20,
    top_p=0.5,
    format={"type": "object", "properties": {"a": {"type": "integer"}}},
    logprobs=True,
    top_logprobs=5,
    keep_alive="5m",
    base_url="http://127.0.0.1:11434",
    client_kwargs={"headers": {"X-Trace": "1"}},
    sync_client_kwargs={"timeout": 30},
    async_client_kwargs={"timeout": 60},
)
# The parameters the issue lists per class, from the references.
ISSUE_OLLAMA = {
    "reasoning",
    "validate_model_on_init",
    "mirostat",
    "mirostat_eta",
    "mirostat_tau",
    "num_ctx",
    "num_gpu",
    "num_thread",
    "num_predict",
    "repeat_last_n",
    "repeat_penalty",
    "temperature",
    "seed",
    "stop",
    "tfs_z",
    "top_k",
    "top_p",
    "format",
    "keep_alive",
    "base_url",
    "client_kwargs",
    "sync_client_kwargs",
    "async_client_kwargs",
}
CLASSES = {
    "chat": langchain_ollama.ChatOllama,
    "llm": langchain_ollama.OllamaLLM,
    "embeddings": langchain_ollama.OllamaEmbeddings,
}


def test_every_documented_parameter_exists_on_the_real_class():
    for kind, cls in CLASSES.items():
        fields = set(FIELDS_BY_TARGET[("ollama", kind)])
        assert fields <= set(cls.model_fields), fields - set(cls.model_fields)
    # Issue 24 adds token logprobs, which OllamaLLM (langchain-ollama 1.1.0) lacks.
    assert set(FIELDS_BY_TARGET[("ollama", "chat")]) == ISSUE_OLLAMA | {"logprobs", "top_logprobs"}
    assert set(FIELDS_BY_TARGET[("ollama", "llm")]) == ISSUE_OLLAMA
    # The embeddings class documents no generation-only parameters.
    assert not {"num_predict", "seed", "format", "reasoning"} & set(
        FIELDS_BY_TARGET[("ollama", "embeddings")]
    )


def test_to_kwargs_holds_only_what_is_set():
    spec = ModelSpec(model="smollm2:135m", temperature=0, stop=["x"])
    assert spec.to_kwargs() == {"model": "smollm2:135m", "temperature": 0.0, "stop": ["x"]}
    assert ModelSpec(model="m", kind="llm", format="").to_kwargs() == {"model": "m", "format": ""}


@pytest.mark.parametrize(
    "data",
    [
        FULL_CHAT,
        {"model": "smollm2", "kind": "llm", "reasoning": True, "format": "json", "num_predict": -2},
        {"model": "all-minilm", "kind": "embeddings", "keep_alive": 300, "num_ctx": 256},
        {
            "model": "mlx-community/SmolLM2-135M-Instruct",
            "backend": "mlx",
            "kind": "chat",
            "system_message": "Be brief.",
            "pipeline_kwargs": {
                "temp": 0.3,
                "max_tokens": 40,
                "top_p": 0.9,
                "min_p": 0.05,
                "min_tokens_to_keep": 2,
                "repetition_penalty": 1.1,
                "repetition_context_size": 16,
            },
        },
    ],
)
def test_json_round_trip(data):
    spec = ModelSpec(**data)
    again = ModelSpec.model_validate_json(spec.model_dump_json())
    assert again == spec
    assert again.to_kwargs() == spec.to_kwargs()


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("temperature", -0.5, ">= 0"),
        ("top_p", 1.5, "[0, 1]"),
        ("top_k", "many", "integer >= 0"),
        ("num_predict", -3, "-1 (infinite)"),
        ("mirostat", 3, "Mirostat 2.0"),
        ("mirostat_eta", 0, "> 0"),
        ("tfs_z", 0.5, ">= 1.0"),
        ("seed", 1.5, "integer"),
        ("num_ctx", 0, ">= 1"),
        ("repeat_last_n", -2, "-1 = num_ctx"),
        ("reasoning", "max", "'low'/'medium'/'high'"),
        ("stop", "END", "list of non-empty strings"),
        ("stop", ["ok", ""], "list of non-empty strings"),
        ("format", "xml", "'json'"),
        ("keep_alive", "five minutes", "duration string"),
        ("base_url", "ftp://host", "http(s) URL"),
        ("base_url", "http://host:99999", "http(s) URL"),
        ("validate_model_on_init", "yes", "True or False"),
        ("temperature", True, ">= 0"),
    ],
)
def test_invalid_values_name_field_value_and_allowed(field, value, allowed):
    with pytest.raises(SpecError) as info:
        ModelSpec(model="smollm2:135m", **{field: value})
    message = str(info.value)
    assert field in message and repr(value) in message and allowed in message


def test_client_kwargs_must_be_json():
    with pytest.raises(SpecError, match=r"client_kwargs.*JSON"):
        ModelSpec(model="m", client_kwargs={"timeout": object()})


def test_unknown_and_misplaced_fields_are_rejected():
    with pytest.raises(SpecError, match="temprature: unknown field"):
        ModelSpec(model="m", temprature=0.1)
    with pytest.raises(SpecError, match="num_predict is not a parameter of OllamaEmbeddings"):
        ModelSpec(model="m", kind="embeddings", num_predict=10)
    with pytest.raises(SpecError, match="pipeline_kwargs is not a parameter of ChatOllama"):
        ModelSpec(model="m", pipeline_kwargs={"temp": 0.1})
    with pytest.raises(SpecError, match="temperature is not a parameter of MLXPipeline"):
        ModelSpec(model="m", backend="mlx", kind="llm", temperature=0.1)
    with pytest.raises(SpecError, match="effort levels"):
        ModelSpec(model="m", kind="llm", reasoning="high")
    with pytest.raises(SpecError, match="JSON schema is for ChatOllama"):
        ModelSpec(model="m", kind="llm", format={"type": "object"})
    with pytest.raises(SpecError, match="not available for backend='mlx'"):
        ModelSpec(model="m", backend="mlx", kind="embeddings")
    with pytest.raises(SpecError, match=r"pipeline_kwargs.temp: got -1"):
        ModelSpec(model="m", backend="mlx", pipeline_kwargs={"temp": -1})
    with pytest.raises(SpecError, match="unknown field"):
        ModelSpec.model_validate_json('{"model": "m", "pipeline": 1}')


def test_specs_are_immutable_and_replace_validates():
    spec = ModelSpec(model="m", temperature=0.5)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        spec.temperature = 1.0
    assert spec.replace(temperature=None, top_k=5).to_kwargs() == {"model": "m", "top_k": 5}
    with pytest.raises(SpecError, match="top_k"):
        spec.replace(top_k=-1)


def test_redacted_removes_credentials():
    spec = ModelSpec(
        model="m",
        base_url="http://alice:pw123@127.0.0.1:11434",
        client_kwargs={
            "headers": {"Authorization": "Bearer tok-9f2", "X-Api-Key": "k1", "X-Trace": "keep"}
        },
    )
    text = spec.redacted().model_dump_json()
    assert "pw123" not in text and "tok-9f2" not in text and "k1" not in text
    assert "keep" in text and "127.0.0.1:11434" in text
    assert "pw123" not in spec.to_code(redact=True)


@pytest.mark.parametrize("kind", ["chat", "llm", "embeddings"])
def test_kwargs_build_the_real_class(kind, server_url):
    data = {k: v for k, v in FULL_CHAT.items() if k in FIELDS_BY_TARGET[("ollama", kind)]}
    if kind == "llm":
        data["format"] = "json"
    if kind == "embeddings":
        data["keep_alive"] = 300
    spec = ModelSpec(model="smollm2:135m", kind=kind, **data)
    obj = CLASSES[kind](**spec.to_kwargs())
    for key, value in spec.to_kwargs().items():
        assert getattr(obj, key) == value, key


_KERNEL_SNIPPET = """
import json
{code}
_keys = {keys!r}
print("RESULT" + json.dumps({{"cls": type(model).__name__,
                             "params": {{k: getattr(model, k) for k in _keys}}}}))
"""


def _run_in_fresh_kernel(source: str) -> str:
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        out: list[str] = []

        def collect(msg):
            if msg["msg_type"] == "stream":
                out.append(msg["content"]["text"])
            elif msg["msg_type"] == "error":
                out.append("ERROR " + "\n".join(msg["content"]["traceback"]))

        kc.execute_interactive(source, timeout=120, output_hook=collect)
        return "".join(out)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_to_code_builds_an_equal_model_in_a_fresh_kernel():
    specs = [
        ModelSpec(**FULL_CHAT),
        ModelSpec(model="smollm2:135m", kind="llm", reasoning=True, format="json", seed=3),
        ModelSpec(model="all-minilm", kind="embeddings", keep_alive=60, top_k=10),
    ]
    source = "\n".join(
        textwrap.dedent(_KERNEL_SNIPPET).format(code=s.to_code(), keys=list(s.to_kwargs()))
        for s in specs
    )
    output = _run_in_fresh_kernel(source)
    results = [
        json.loads(line[len("RESULT") :])
        for line in output.splitlines()
        if line.startswith("RESULT")
    ]
    assert len(results) == 3, output
    for spec, result in zip(specs, results, strict=True):
        assert result["cls"] == spec.target_class
        local = CLASSES[spec.kind](**spec.to_kwargs())
        expected = json.loads(json.dumps({k: getattr(local, k) for k in spec.to_kwargs()}))
        assert result["params"] == expected


_MLX_SNIPPET = """
import json
{code}
pipeline = getattr(model, "llm", model)
print("RESULT" + json.dumps({{
    "cls": type(model).__name__,
    "model_id": pipeline.model_id,
    "pipeline_kwargs": pipeline.pipeline_kwargs,
    "system_message": getattr(model, "system_message", None),
    "answer": model.invoke({prompt!r}),
}}, default=lambda message: message.content))
"""


@pytest.mark.parametrize("kind", ["chat", "llm"])
def test_mlx_to_code_builds_an_equal_model_in_a_fresh_kernel(kind, mlx_cache):
    pytest.importorskip("mlx_lm")
    from localllm_nb import build

    spec = ModelSpec(
        backend="mlx",
        kind=kind,
        model="smollm2:135m",
        pipeline_kwargs={"temp": 0.0, "max_tokens": 8, "repetition_penalty": 1.1},
        **({"system_message": "Answer in one word."} if kind == "chat" else {}),
    )
    local = build(spec)  # converts the bundled model into the session's cache, once
    prompt = "What is the capital of France?" if kind == "chat" else "The capital of France is"
    source = textwrap.dedent(_MLX_SNIPPET).format(code=spec.to_code(), prompt=prompt)
    output = _run_in_fresh_kernel(source)
    lines = [line for line in output.splitlines() if line.startswith("RESULT")]
    assert lines, output
    result = json.loads(lines[0][len("RESULT") :])
    pipeline = getattr(local, "llm", local)
    assert result["cls"] == type(local).__name__ == spec.target_class
    assert result["model_id"] == pipeline.model_id
    assert result["pipeline_kwargs"] == pipeline.pipeline_kwargs
    system = getattr(local, "system_message", None)  # a SystemMessage, sent as its text
    assert result["system_message"] == getattr(system, "content", None)
    # Greedy decoding: the kernel's model answers exactly as the one built here.
    expected = local.invoke(prompt)
    assert result["answer"] == getattr(expected, "content", expected) and result["answer"]


def test_openai_spec_accepts_its_own_fields_only():
    spec = ModelSpec(
        backend="openai",
        model="qwen3",
        base_url="http://127.0.0.1:8000/v1",
        max_tokens=16,
        frequency_penalty=-0.5,
        reasoning_effort="low",
        api_key_env="VLLM_API_KEY",
    )
    assert spec.target_class == "ChatOpenAI"
    assert "api_key_env" not in spec.to_kwargs() and spec.to_kwargs()["max_tokens"] == 16
    for bad in ({"num_ctx": 4}, {"kind": "llm"}, {"reasoning_effort": "max"}):
        with pytest.raises(SpecError):
            ModelSpec(backend="openai", model="m", **bad)
    with pytest.raises(SpecError, match="frequency_penalty"):
        spec.replace(frequency_penalty=3)
    with pytest.raises(SpecError, match="api_key_env"):
        spec.replace(api_key_env="not a name")
    with pytest.raises(SpecError) as err:
        spec.replace(api_key="   ")
    assert "'   '" not in str(err.value)  # a rejected key is not echoed
    with pytest.raises(SpecError, match="api_key"):
        ModelSpec(model="m", api_key="sk-1")  # ChatOllama takes no key


def test_retarget_between_ollama_mlx_and_openai():
    ollama = ModelSpec(
        model="m", num_predict=32, temperature=0.3, mirostat=1, base_url="http://h:11434"
    )
    new = ollama.retarget(backend="openai")
    assert (new.spec.max_tokens, new.spec.temperature) == (32, 0.3)
    # Ollama's base_url is a server root, an OpenAI one ends in /v1: not carried.
    assert new.dropped == {"mirostat": 1, "base_url": "http://h:11434"}
    openai = ModelSpec(
        backend="openai", model="m", max_tokens=8, top_p=0.5, presence_penalty=1.0, api_key="k"
    )
    mlx = openai.retarget(backend="mlx")
    assert mlx.spec.pipeline_kwargs.max_tokens == 8 and mlx.spec.pipeline_kwargs.top_p == 0.5
    assert set(mlx.dropped) == {"presence_penalty", "api_key"}
    back = mlx.spec.retarget(backend="openai")
    assert (back.spec.max_tokens, back.spec.top_p, back.dropped) == (8, 0.5, {})
    assert ModelSpec(model="m", num_predict=-1).retarget(backend="openai").dropped == {
        "num_predict": -1
    }
    emb = ModelSpec(backend="openai", kind="embeddings", model="e", dimensions=64)
    assert emb.retarget(backend="ollama").dropped == {"dimensions": 64}


def test_an_openai_model_reads_back_as_its_spec_without_the_key(monkeypatch):
    from localllm_nb.backends import build_chat, build_embeddings, spec_from_model

    monkeypatch.setenv("LOCALLLM_NB_TEST_KEY", "sk-read-back")
    spec = ModelSpec(
        backend="openai",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        temperature=0.2,
        top_p=0.5,
        seed=3,
        frequency_penalty=0.1,
        presence_penalty=0.2,
        max_tokens=9,
        stop=["x"],
        reasoning_effort="low",
        api_key_env="LOCALLLM_NB_TEST_KEY",
    )
    assert spec_from_model(build_chat(spec)) == spec.replace(api_key_env=None)
    emb = ModelSpec(
        backend="openai", kind="embeddings", model="e", base_url="http://h:1/v1", dimensions=4
    )
    assert spec_from_model(build_embeddings(emb)) == emb
