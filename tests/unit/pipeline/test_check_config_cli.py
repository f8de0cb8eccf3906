"""`newswatch check-config` over real config files (copies of the shipped ones)."""

import shutil
from pathlib import Path

from click.testing import CliRunner

from newswatch.cli import cli

REPO = Path(__file__).resolve().parents[3]


def copy_config(tmp_path: Path) -> Path:
    d = tmp_path / "config"
    shutil.copytree(REPO / "config", d, ignore=shutil.ignore_patterns("*.py", "__pycache__", "kibana"))
    return d


def test_shipped_config_is_valid_and_references_only_known_ids(tmp_path):
    d = copy_config(tmp_path)
    r = CliRunner().invoke(cli, ["check-config"], env={"NEWSWATCH_CONFIG_DIR": str(d)})
    assert r.exit_code == 0, r.output
    assert r.output.count("ok ") == 4 and "warning" not in r.output


def test_a_typo_in_an_entity_id_is_a_warning_naming_the_rule(tmp_path):
    d = copy_config(tmp_path)
    alerts = (d / "alerts.yaml").read_text(encoding="utf-8").replace("entity:ncri", "entity:ncrii")
    (d / "alerts.yaml").write_text(alerts, encoding="utf-8")
    r = CliRunner().invoke(cli, ["check-config"], env={"NEWSWATCH_CONFIG_DIR": str(d)})
    assert r.exit_code == 0
    assert "alerts.yaml: rule 'mek-albania': entity:ncrii is not defined in watchlist.yaml" in r.output


def test_broken_files_fail_with_every_problem(tmp_path):
    d = copy_config(tmp_path)
    (d / "feeds.yaml").write_text("feeds:\n  - {id: a, url: 'ftp://x'}\n  - {id: b}\n",
                                  encoding="utf-8")
    r = CliRunner().invoke(cli, ["check-config"], env={"NEWSWATCH_CONFIG_DIR": str(d)})
    assert r.exit_code == 1
    assert "feeds[0] (id 'a'): url:" in r.output and "feeds[1] (id 'b'): url: is required" in r.output
