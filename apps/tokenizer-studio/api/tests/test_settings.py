"""Command-line and environment settings: every value is checked, and a bad one is named."""

from pathlib import Path

import pytest

from app.settings import DEFAULT_MAX_UPLOAD_BYTES, SettingsError, parse_settings


def test_defaults_are_the_desktop_launch_contract(tmp_path):
    settings = parse_settings([], env={})
    assert settings.port == 0
    assert settings.stdin_watch is True
    assert settings.cors_origins == ()
    assert settings.token is None
    assert settings.max_upload_bytes == DEFAULT_MAX_UPLOAD_BYTES


def test_environment_values_are_read(tmp_path):
    web = tmp_path / "web"
    web.mkdir()
    (web / "index.html").write_text("<div id=root></div>")
    settings = parse_settings(
        ["--port", "8123", "--no-stdin-watch"],
        env={
            "TOKENIZER_STUDIO_RUNTIME_TOKEN": "secret",
            "TOKENIZER_STUDIO_LAUNCH_ID": "launch-1",
            "TOKENIZER_STUDIO_WEB_DIR": str(web),
            "TOKENIZER_STUDIO_MAX_UPLOAD_BYTES": "1024",
            "TOKENIZER_STUDIO_CORS_ORIGINS": " http://127.0.0.1:5173/ , ,http://localhost:5173",
        },
    )
    assert settings.port == 8123
    assert settings.stdin_watch is False
    assert settings.token == "secret"
    assert settings.launch_id == "launch-1"
    assert settings.web_dir == web
    assert settings.max_upload_bytes == 1024
    assert settings.cors_origins == ("http://127.0.0.1:5173", "http://localhost:5173")


@pytest.mark.parametrize(
    ("argv", "env", "named"),
    [
        (["--port", "70000"], {}, "--port 70000"),
        (["--port", "-1"], {}, "--port -1"),
        (["--host", "0.0.0.0"], {}, "127.0.0.1"),
        ([], {"TOKENIZER_STUDIO_MAX_UPLOAD_BYTES": "lots"}, "TOKENIZER_STUDIO_MAX_UPLOAD_BYTES"),
        ([], {"TOKENIZER_STUDIO_MAX_UPLOAD_BYTES": "0"}, "positive"),
        ([], {"TOKENIZER_STUDIO_CORS_ORIGINS": "*"}, "is not an origin"),
        ([], {"TOKENIZER_STUDIO_CORS_ORIGINS": "127.0.0.1:5173"}, "http://127.0.0.1:5173"),
        ([], {"TOKENIZER_STUDIO_WEB_DIR": "/nonexistent/web"}, "has no index.html"),
    ],
)
def test_bad_values_are_refused_by_name(argv, env, named):
    with pytest.raises(SettingsError) as refused:
        parse_settings(argv, env=env)
    assert named in str(refused.value)


def test_web_dir_flag_wins_over_the_environment(tmp_path):
    flag, from_env = tmp_path / "flag", tmp_path / "env"
    for folder in (flag, from_env):
        folder.mkdir()
        (folder / "index.html").write_text("ok")
    settings = parse_settings(["--web-dir", str(flag)], env={"TOKENIZER_STUDIO_WEB_DIR": str(from_env)})
    assert settings.web_dir == Path(flag)
