"""Field metadata, structured spec errors and retargeting: what a form reads and shows."""

from __future__ import annotations

import pytest

from localllm_nb import ModelSpec, SpecError, SpecProblem, list_models
from localllm_nb.fields import FIELD_RULES, GROUPS, check_value
from localllm_nb.spec import FIELDS_BY_TARGET
from tests.models import CHAT

# --- messages ---------------------------------------------------------------------------


def test_replace_error_is_wrapped_once():
    with pytest.raises(SpecError) as info:
        ModelSpec(model="m").replace(temperature=-1)
    assert str(info.value) == (
        "Invalid ModelSpec: temperature: got -1; allowed: a number >= 0 "
        "(0 = deterministic, default 0.8) (randomness of sampling; higher answers more creatively)"
    )


def test_json_error_is_wrapped_once():
    with pytest.raises(SpecError) as info:
        ModelSpec.model_validate_json('{"model": "m", "pipeline": 1}')
    assert str(info.value) == (
        "Invalid ModelSpec: pipeline: unknown field; ModelSpec forbids fields the "
        "references do not document (got 1)"
    )


def test_problems_name_each_field_once():
    with pytest.raises(SpecError) as info:
        ModelSpec(model="m", temperature=-1, top_p=3, stop="x")
    problems = info.value.problems
    assert [p.field for p in problems] == ["temperature", "stop", "top_p"]  # declaration order
    assert all(isinstance(p, SpecProblem) for p in problems)
    top_p = problems[2]
    assert top_p.value == 3
    assert top_p.allowed == FIELD_RULES["top_p"].allowed
    assert top_p.message.startswith("top_p: got 3; allowed: a number in [0, 1]")
    # str(err) stays one readable message made of the same parts.
    assert str(info.value) == "Invalid ModelSpec: " + "; ".join(p.message for p in problems)


def test_model_level_problems_carry_their_field():
    with pytest.raises(SpecError) as info:
        ModelSpec(model="m", kind="llm", reasoning="low")
    (problem,) = info.value.problems
    assert problem.field == "reasoning"
    assert "OllamaLLM accepts only True, False or None" in problem.message

    with pytest.raises(SpecError) as info:
        ModelSpec(backend="mlx", model="m", temperature=0.5)
    assert [p.field for p in info.value.problems] == ["temperature"]
    assert "not a parameter of ChatMLX" in info.value.problems[0].message


def test_nested_mlx_problem_is_named_with_its_path():
    with pytest.raises(SpecError) as info:
        ModelSpec(backend="mlx", model="m", pipeline_kwargs={"temp": -2})
    (problem,) = info.value.problems
    assert problem.field == "pipeline_kwargs.temp"
    assert problem.value == -2


# --- metadata -----------------------------------------------------------------------------


def test_fields_cover_exactly_what_each_target_accepts():
    for (backend, kind), names in FIELDS_BY_TARGET.items():
        fields = ModelSpec.fields(backend, kind)
        got = {f.name.split(".")[0] for f in fields} - {"model"}
        assert got == set(names), (backend, kind)
        assert fields[0].name == "model"
        assert all(f.group in GROUPS and f.help and f.allowed for f in fields)


def test_field_records_carry_bounds_choices_and_defaults():
    fields = {f.name: f for f in ModelSpec.fields("ollama", "chat")}
    assert (fields["top_p"].lo, fields["top_p"].hi, fields["top_p"].default) == (0, 1, 0.9)
    assert fields["num_ctx"].default == 2048 and fields["num_ctx"].group == "context and memory"
    assert fields["reasoning"].choices == (True, False, "low", "medium", "high")
    assert fields["mirostat"].choices == (0, 1, 2)
    assert fields["format"].choices == ("", "json")
    assert fields["base_url"].group == "server"
    assert fields["client_kwargs"].group == "client"
    mlx = {f.name: f for f in ModelSpec.fields("mlx", "chat")}
    assert mlx["pipeline_kwargs.max_tokens"].group == "length"
    assert "system_message" in mlx


def test_metadata_is_what_validation_enforces():
    """Every bound a form shows is the bound validation applies, one step either side."""
    for field in ModelSpec.fields("ollama", "chat"):
        if field.type not in ("int", "float") or field.lo is None:
            continue
        step = 1 if field.type == "int" else 0.01
        below = field.lo if field.lo_open else field.lo - step
        with pytest.raises(SpecError):
            ModelSpec(model="m", **{field.name: below})
        ModelSpec(model="m", **{field.name: field.lo + step})
        if field.hi is not None:
            with pytest.raises(SpecError):
                ModelSpec(model="m", **{field.name: field.hi + step})


def test_check_value_uses_the_same_records():
    assert check_value("top_k", 3.0, FIELD_RULES["top_k"]) == 3
    with pytest.raises(ValueError, match="allowed: 0 \\(disabled\\), 1"):
        check_value("mirostat", 3, FIELD_RULES["mirostat"])


def test_server_defaults_come_from_the_server(server_url):
    info = {m.name: m for m in list_models(server_url, refresh=True)}["smollm2:135m"]
    # The embedded server's own defaults, which differ from LangChain's documented ones.
    assert info.parameters["num_ctx"] == 4096
    assert info.parameters["num_predict"] == 512
    assert info.parameters["stop"] == ["<|im_start|>", "<|im_end|>"]
    fields = {f.name: f for f in ModelSpec.fields(server_defaults=info.parameters)}
    assert (fields["num_ctx"].default, fields["num_ctx"].server_default) == (2048, 4096)
    assert fields["num_predict"].server_default == 512
    assert fields["mirostat"].server_default is None


# --- dotted names and retargeting ----------------------------------------------------------


def test_dotted_names_read_and_write_mlx_settings():
    spec = ModelSpec(backend="mlx", model="m").replace(**{"pipeline_kwargs.temp": 0.5})
    assert spec.get("pipeline_kwargs.temp") == 0.5
    spec = spec.replace(**{"pipeline_kwargs.max_tokens": 9, "pipeline_kwargs.temp": None})
    assert spec.pipeline_kwargs.model_dump(exclude_none=True) == {"max_tokens": 9}
    assert ModelSpec(backend="mlx", model="m").get("pipeline_kwargs.temp") is None


def test_retarget_carries_equivalents_and_says_what_it_dropped():
    spec = ModelSpec(model=CHAT, temperature=0.3, num_predict=20, top_p=0.8, mirostat=1, seed=4)
    new, dropped = spec.retarget(backend="mlx")
    assert new.backend == "mlx" and new.kind == "chat"
    assert new.pipeline_kwargs.model_dump(exclude_none=True) == {
        "temp": 0.3,
        "max_tokens": 20,
        "top_p": 0.8,
    }
    assert dropped == {"mirostat": 1, "seed": 4}
    back, dropped_back = new.retarget(backend="ollama")
    assert back.set_params() == {"temperature": 0.3, "num_predict": 20, "top_p": 0.8}
    assert dropped_back == {}


def test_retarget_between_kinds_drops_what_the_kind_refuses():
    spec = ModelSpec(model="m", reasoning="high", format={"type": "object"}, num_ctx=512)
    new, dropped = spec.retarget(kind="llm")
    assert new.kind == "llm" and new.num_ctx == 512
    assert dropped == {"reasoning": "high", "format": {"type": "object"}}
    emb, dropped = ModelSpec(model="m", keep_alive="5m", temperature=0).retarget(kind="embeddings")
    assert emb.kind == "embeddings" and dropped == {"keep_alive": "5m"}
    assert emb.temperature == 0.0


def test_retarget_refuses_an_unknown_target():
    with pytest.raises(SpecError) as info:
        ModelSpec(model="m").retarget(backend="mlx", kind="embeddings")
    assert info.value.problems[0].field == "kind"
