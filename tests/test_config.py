"""vigil.config: defaults, precedence, secrets, precise problems, reload, generated docs."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from vigil.config import (
    ConfigError,
    ConfigManager,
    ConfigProblem,
    VigilConfig,
    check_config,
    format_duration,
    load_config,
    parse_duration,
    redacted_dict,
    run_check_config,
)
from vigil.config.docs import render

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path(__file__).parent / "configs"
BROKEN = CONFIGS / "broken"
GOOD_ENV = {
    "VIGIL_TEST_ADMIN": "admin-secret-1",
    "VIGIL_TEST_OPENAI_KEY": "sk-secret-2",
    "VIGIL_TEST_RELAY_AUTH": "Bearer relay-secret-3",
    "VIGIL_TEST_SLACK_WEBHOOK": "https://hooks.example/secret-4",
}
EXAMPLE_ENV = {
    name: f"{name.lower()}-value"
    for name in (
        "VIGIL_ADMIN_TOKEN",
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "AZURE_OPENAI_API_KEY",
        "VIGIL_KEY_BACKEND",
        "VIGIL_KEY_NOTEBOOKS",
        "VIGIL_METRICS_TOKEN",
        "PAGERDUTY_WEBHOOK_URL",
        "SLACK_WEBHOOK_URL",
    )
}


def write(tmp_path: Path, text: str, name: str = "vigil.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- defaults, precedence, durations ---------------------------------------------------------


def test_defaults_without_a_file() -> None:
    cfg = load_config(None, env={})
    assert cfg.server.host == "127.0.0.1"
    assert cfg.server.port == 4000
    assert cfg.server.admin_token is None
    assert cfg.server.max_body_bytes == 10 * 1024 * 1024
    assert cfg.store.backend == "duckdb"
    assert cfg.store.path == "./vigil-data/vigil.duckdb"
    assert cfg.limits_backend.backend == "memory"
    assert cfg.pipeline.flush_interval == timedelta(milliseconds=200)
    assert cfg.retention.llm_calls == timedelta(days=90)
    assert cfg.retention.audit == timedelta(days=365)
    assert cfg.alerts.evaluation_interval == timedelta(seconds=15)
    assert cfg.providers == {} and cfg.models == {} and cfg.keys == []


def test_empty_file_is_all_defaults(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "# nothing yet\n"), env={}) == load_config(None, env={})


def test_env_overrides_file_and_file_overrides_defaults() -> None:
    env = {**GOOD_ENV, "VIGIL_SERVER__PORT": "4001", "vigil_store__path": "/tmp/x.duckdb"}
    cfg = load_config(CONFIGS / "good.yaml", env=env)
    assert cfg.server.port == 4001  # env beats the file's 4100
    assert cfg.store.path == "/tmp/x.duckdb"  # case-insensitive variable name
    assert cfg.server.host == "127.0.0.1"  # untouched keys keep their default
    assert load_config(CONFIGS / "good.yaml", env=GOOD_ENV).server.port == 4100


def test_env_override_reaches_nested_mappings() -> None:
    env = {**GOOD_ENV, "VIGIL_PROVIDERS__OPENAI__RPM": "60", "VIGIL_RETENTION__LOGS": "7d"}
    cfg = load_config(CONFIGS / "good.yaml", env=env)
    assert cfg.providers["openai"].rpm == 60
    assert cfg.providers["openai"].api_key is not None  # the file's other keys are kept
    assert cfg.retention.logs == timedelta(days=7)


def test_bad_env_override_names_the_variable() -> None:
    problems = check_config(None, env={"VIGIL_SERVER__PORT": "abc"})
    assert len(problems) == 1
    assert problems[0].path == "server.port"
    assert problems[0].line is None
    assert "VIGIL_SERVER__PORT" in problems[0].message


def test_limits_backend_shorthand(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, "limits_backend: redis://127.0.0.1:6379/0\n"), env={})
    assert cfg.limits_backend.backend == "redis"
    assert cfg.limits_backend.url == "redis://127.0.0.1:6379/0"
    assert (
        load_config(write(tmp_path, "limits_backend: memory\n"), env={}).limits_backend.url is None
    )
    from_env = load_config(None, env={"VIGIL_LIMITS_BACKEND": "redis://h:6379/1"})
    assert from_env.limits_backend.url == "redis://h:6379/1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("50ms", timedelta(milliseconds=50)),
        ("15s", timedelta(seconds=15)),
        ("5m", timedelta(minutes=5)),
        ("1h", timedelta(hours=1)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("1.5h", timedelta(minutes=90)),
        (90, timedelta(seconds=90)),
        ("90", timedelta(seconds=90)),
    ],
)
def test_durations(text: str | int, expected: timedelta) -> None:
    assert parse_duration(text) == expected
    assert parse_duration(format_duration(expected)) == expected


@pytest.mark.parametrize("text", ["soon", "5 minutes", "-1s", "1y", ""])
def test_bad_durations_say_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"50ms, 15s, 5m, 1h, 30d, 2w|negative"):
        parse_duration(text)


# --- secrets ---------------------------------------------------------------------------------


def test_env_secret_is_resolved_and_never_printed() -> None:
    cfg = load_config(CONFIGS / "good.yaml", env=GOOD_ENV)
    openai = cfg.providers["openai"]
    assert openai.api_key is not None
    assert openai.api_key.get_secret_value() == "sk-secret-2"
    assert cfg.server.admin_token is not None
    assert cfg.server.admin_token.get_secret_value() == "admin-secret-1"
    assert openai.headers["authorization"] == "Bearer relay-secret-3"
    slack = cfg.alerts.receivers[0].slack_urls
    assert [url.get_secret_value() for url in slack] == ["https://hooks.example/secret-4"]

    shown = [repr(cfg), str(cfg), str(redacted_dict(cfg))]
    for text in shown:
        for secret in ("admin-secret-1", "sk-secret-2", "relay-secret-3", "secret-4", "hunter2"):
            assert secret not in text, (secret, text)


def test_redacted_dict_is_plain_data_with_masks() -> None:
    data = redacted_dict(load_config(CONFIGS / "good.yaml", env=GOOD_ENV))
    assert data["providers"]["openai"]["api_key"] == "********"
    assert data["providers"]["openai"]["headers"]["authorization"] == "********"
    assert data["server"]["admin_token"] == "********"
    receiver = data["alerts"]["receivers"][0]
    assert receiver["name"] == "slack"
    assert receiver["slack_urls"] == ["********"]
    assert data["limits_backend"]["url"] == "redis://:********@127.0.0.1:6379/0"
    assert data["metrics"]["bearer_token"] is None
    assert data["pipeline"]["flush_interval"] == "200ms"
    assert data["retention"]["audit"] == "365d"
    assert data["server"]["port"] == 4100


# --- broken files: exactly one precise problem each ------------------------------------------

BROKEN_CASES = [
    ("bad_yaml.yaml", "", 5, "expected ',' or ']'"),
    ("unknown_key.yaml", "server.prot", 4, "unknown key 'prot'; did you mean 'port'?"),
    ("wrong_type.yaml", "server.port", 3, "Input should be a valid integer"),
    (
        "missing_env.yaml",
        "providers.openai.api_key",
        4,
        "environment variable VIGIL_TEST_UNSET_OPENAI_KEY is not set",
    ),
    (
        "unknown_provider.yaml",
        "models.gpt-4o.deployments[1].provider",
        9,
        "unknown provider 'opnai'",
    ),
]


@pytest.mark.parametrize(("name", "path", "line", "message"), BROKEN_CASES)
def test_broken_config_gives_one_precise_problem(
    name: str, path: str, line: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    file = BROKEN / name
    problems = check_config(file, env={})
    assert len(problems) == 1, problems
    problem = problems[0]
    assert (problem.path, problem.line, problem.file) == (path, line, str(file))
    assert message in problem.message
    assert str(problem).startswith(f"{file}:{line}: ")

    with pytest.raises(ConfigError) as raised:
        load_config(file, env={})
    assert raised.value.problems == problems
    assert str(raised.value) == str(problem)

    assert run_check_config(file, env={}) == 2
    err = capsys.readouterr().err
    assert f"{file}:{line}:" in err and message in err


def test_every_broken_fixture_is_covered() -> None:
    assert {case[0] for case in BROKEN_CASES} == {path.name for path in BROKEN.glob("*.yaml")}


def test_all_problems_of_a_file_are_reported_at_once() -> None:
    problems = check_config(CONFIGS / "several_problems.yaml", env={})
    found = {(problem.path, problem.line) for problem in problems}
    assert found == {
        ("server.port", 2),
        ("server.log_level", 3),
        ("store.pth", 5),
        ("pipeline.flush_interval", 7),
        ("retention.logs", 9),
        ("providers.openai.api_key", 12),
    }
    by_path = {problem.path: problem.message for problem in problems}
    assert "ms, s, m, h, d or w" in by_path["pipeline.flush_interval"]
    assert "at least 1h" in by_path["retention.logs"]
    assert [problem.line for problem in problems] == sorted(p.line or 0 for p in problems)


def test_cross_reference_problems() -> None:
    problems = {p.path: p for p in check_config(CONFIGS / "bad_references.yaml", env={})}
    assert set(problems) == {
        "store.url",
        "models.gpt-4o.canary.deployment",
        "models.gpt-4o.fallbacks[0]",
        "models.gpt-4o.fallbacks[1]",
        "keys[0].models[0]",
        "keys[1].alias",
        "keys[1].key",
    }
    assert "clickhouse" in problems["store.url"].message
    assert "out of range" in problems["models.gpt-4o.canary.deployment"].message
    assert "itself" in problems["models.gpt-4o.fallbacks[0]"].message
    assert "unknown model 'claude'" in problems["models.gpt-4o.fallbacks[1]"].message
    assert problems["keys[0].models[0]"].line == 17


@pytest.mark.parametrize(
    ("text", "path", "line", "message"),
    [
        ("server:\n  port: 1\n  port: 2\n", "server.port", 3, "duplicate key 'port'"),
        ("- a\n- b\n", "", 1, "must be a mapping"),
        ("limits_backend: redis\n", "limits_backend.url", 1, "required"),
        ("server:\n  port: 70000\n", "server.port", 2, "less than or equal to 65535"),
        ("providers:\n  x:\n    api_base: ftp://h\n", "providers.x.api_base", 3, "http(s) URL"),
        ("sever:\n  port: 1\n", "sever", 1, "did you mean 'server'?"),
        (
            "models:\n  m:\n    deployments:\n      - provider: p\n",
            "models.m.deployments[0].model",
            4,
            "required key 'model' is missing",
        ),
    ],
)
def test_more_problems(tmp_path: Path, text: str, path: str, line: int, message: str) -> None:
    problems = check_config(write(tmp_path, text), env={})
    assert [(p.path, p.line) for p in problems][:1] == [(path, line)]
    assert message in problems[0].message


def test_unreadable_file_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    problems = check_config(tmp_path / "missing.yaml", env={})
    assert len(problems) == 1 and "cannot read" in problems[0].message


def test_problem_formatting() -> None:
    problem = ConfigProblem(
        "providers.openai.api_key", "environment variable X is not set", 12, "v.yaml"
    )
    assert str(problem) == "v.yaml:12: providers.openai.api_key: environment variable X is not set"
    assert str(ConfigProblem("server.port", "bad")) == "server.port: bad"


def test_run_check_config_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_check_config(CONFIGS / "good.yaml", env=GOOD_ENV) == 0
    out = capsys.readouterr().out
    assert "✓" in out and "is valid" in out
    assert "1 provider, 1 model, 0 keys" in out


# --- reload ----------------------------------------------------------------------------------


def test_manager_keeps_old_config_on_broken_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "server:\n  port: 4001\n")
    manager = ConfigManager(path, env={})
    seen: list[tuple[VigilConfig, VigilConfig]] = []
    manager.subscribe(lambda old, new: seen.append((old, new)))
    first = manager.current

    path.write_text("server:\n  port: abc\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="vigil.config"):
        assert manager.reload() is False
    assert manager.current is first
    assert seen == []
    errors = [r for r in caplog.records if r.levelno == logging.ERROR and r.name == "vigil.config"]
    assert errors and "server.port" in errors[0].getMessage()

    caplog.clear()
    path.write_text("server:\n  port: 4002\n", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="vigil.config"):
        assert manager.reload() is True
    assert manager.current.server.port == 4002
    assert seen == [(first, manager.current)]
    assert any(r.getMessage() == "config reloaded" for r in caplog.records)


def test_manager_refuses_to_start_on_broken_file() -> None:
    with pytest.raises(ConfigError):
        ConfigManager(BROKEN / "wrong_type.yaml", env={})


def test_failing_subscriber_does_not_stop_reload(tmp_path: Path) -> None:
    manager = ConfigManager(write(tmp_path, "server:\n  port: 4001\n"), env={})
    calls: list[int] = []

    def broken(old: VigilConfig, new: VigilConfig) -> None:
        raise RuntimeError("boom")

    manager.subscribe(broken)
    manager.subscribe(lambda old, new: calls.append(new.server.port))
    assert manager.reload() is True
    assert calls == [4001]


# --- docs and example ------------------------------------------------------------------------


def test_docs_are_in_sync_with_the_models() -> None:
    committed = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render(), (
        "docs/configuration.md is stale: run "
        "`PYTHONPATH=src python -m vigil.config.docs > docs/configuration.md`"
    )


def test_docs_generator_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "vigil.config.docs"],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(ROOT / "src")},
    )
    assert result.stdout == render()


def test_docs_document_every_key() -> None:
    text = render()
    for key in ("server.port", "providers.<name>.timeouts.idle", "models.<name>.canary.percent"):
        assert f"`{key}`" in text
    assert "`keys[].budget_period`" in text
    assert "| `retention.audit` | duration | `365d` |" in text


def test_example_config_is_valid() -> None:
    example = ROOT / "examples" / "vigil.yaml"
    assert check_config(example, env=EXAMPLE_ENV) == []
    cfg = load_config(example, env=EXAMPLE_ENV)
    assert set(cfg.providers) == {"openai", "anthropic", "azure", "local"}
    assert cfg.models["gpt-4o"].fallbacks == ["claude-sonnet"]
    assert cfg.providers["anthropic"].api_base == "https://api.anthropic.com"
    # every section is present in the example
    import yaml

    sections = yaml.safe_load(example.read_text(encoding="utf-8"))
    assert set(sections) == set(VigilConfig.model_fields)


def test_manager_from_config_keeps_the_given_config() -> None:
    cfg = load_config(CONFIGS / "good.yaml", env=GOOD_ENV)
    manager = ConfigManager.from_config(cfg)
    assert manager.current is cfg
    assert manager.reload() is False
    assert manager.current is cfg
    assert ConfigManager.from_config().current.server.port > 0


def test_malformed_json_in_env_names_the_variable() -> None:
    problems = check_config(None, env={"VIGIL_PROVIDERS": "not json"})
    assert len(problems) == 1
    assert problems[0].path == "providers"
    assert "VIGIL_PROVIDERS must hold a JSON value" in problems[0].message


def test_redacted_dict_is_json() -> None:
    data = redacted_dict(load_config(CONFIGS / "good.yaml", env=GOOD_ENV))
    assert json.loads(json.dumps(data)) == data
