"""Settings from NEWSWATCH_* and the YAML loader: errors name the thing and the fix."""

from pathlib import Path

import pytest
from pydantic import BaseModel

from newswatch.pipeline.config import ConfigError, load_entries
from newswatch.pipeline.settings import SettingsError, load_settings


@pytest.mark.parametrize("var,value,expect", [
    ("NEWSWATCH_FETCH_TIMEOUT", "abc", "NEWSWATCH_FETCH_TIMEOUT='abc'"),
    ("NEWSWATCH_INDEX", "foo", "'sqlite', 'elasticsearch' or 'opensearch'"),
    ("NEWSWATCH_TIMEZONE", "Mars", "Europe/Paris"),
    ("NEWSWATCH_MAX_INTERVAL", "60", "below NEWSWATCH_MIN_INTERVAL"),
    ("NEWSWATCH_ALLOW_PRIVATE_HOSTS", "bogus/99", "CIDR"),
])
def test_bad_environment_values_name_the_variable(monkeypatch, var, value, expect):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError, match="invalid setting") as exc:
        load_settings()
    assert expect in str(exc.value)


def test_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSWATCH_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("NEWSWATCH_LOG_LEVEL", "debug")
    monkeypatch.setenv("NEWSWATCH_TIMEZONE", "Europe/Paris")
    s = load_settings()
    assert (s.data_dir, s.log_level, s.timezone) == (tmp_path, "DEBUG", "Europe/Paris")


class Entry(BaseModel):
    id: str
    n: int = 0


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "things.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_every_bad_entry_is_reported_at_once(tmp_path):
    p = write(tmp_path, "things:\n  - {id: a, n: x}\n  - {id: b}\n  - {id: b}\n  - 3\n")
    with pytest.raises(ConfigError) as exc:
        load_entries(p, "things", Entry)
    msg = str(exc.value)
    assert msg.startswith(str(p)) and "3 problems" in msg
    assert "things[0] (id 'a'): n:" in msg and "duplicate id 'b' (also things[1])" in msg and "things[3]" in msg


def test_one_bad_entry_names_file_entry_and_fix(tmp_path):
    p = write(tmp_path, "things:\n  - {n: 1}\n")
    with pytest.raises(ConfigError, match=r"things\.yaml: things\[0\]: id: is required but missing -- add it"):
        load_entries(p, "things", Entry)


def test_unknown_top_level_keys_are_errors_but_anchor_keys_are_not(tmp_path):
    with pytest.raises(ConfigError, match="unknown top-level key.*'defaults'"):
        load_entries(write(tmp_path, "defaults: {n: 1}\nthings:\n  - {id: a}\n"), "things", Entry)
    ok = load_entries(write(tmp_path, "x-common: &c {n: 2}\nthings:\n  - {id: a, <<: *c}\n"), "things", Entry)
    assert ok == [Entry(id="a", n=2)]


def test_broken_yaml_says_where(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML at line \d+, column \d+"):
        load_entries(write(tmp_path, "things:\n  - {id: a\n  - b: [\n"), "things", Entry)
