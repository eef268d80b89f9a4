"""`stratum pricing MODEL` and `stratum pricing --check PATH...`."""

from __future__ import annotations

from pathlib import Path

import pytest

from stratum.cli import main


def test_pricing_prints_the_resolved_row_its_source_and_snapshot_date(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "openai:gpt-4o-2024-08-06"]) == 0
    out = capsys.readouterr().out
    assert "input          $2.5 / MTok" in out
    assert "output         $10 / MTok" in out
    assert "cached input   $1.25 / MTok" in out
    assert "cache write    - / MTok" in out
    assert "genai-prices" in out and "row openai:gpt-4o" in out
    assert "snapshot date  newest price change in effect 20" in out


def test_pricing_shows_tiers_and_cache_write(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "anthropic:claude-sonnet-4-5-20250929"]) == 0
    out = capsys.readouterr().out
    assert "cache write    $3.75 / MTok" in out and "tiers          yes" in out


def test_pricing_of_an_unknown_model_says_which_override_to_set(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "acme:secret-model"]) == 1
    assert "configure(prices={'acme:secret-model': Price(" in capsys.readouterr().out


def test_local_servers_are_free_unless_priced(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pricing", "ollama:llama3.2"]) == 0
    out = capsys.readouterr().out
    assert "input          $0 / MTok" in out and "a local server: free unless priced" in out


def test_bare_model_names_get_the_same_answer_as_infer(capsys: pytest.CaptureFixture[str]) -> None:
    import stratum
    from stratum import infer
    from stratum.exceptions import ConfigurationError

    assert main(["pricing", "gpt-4o"]) == 2
    said = capsys.readouterr().err

    @infer("Say hi", model="gpt-4o")
    def hi() -> str: ...

    with pytest.raises(ConfigurationError) as caught:
        stratum.run(hi())
    assert str(caught.value) in said
    assert "has no provider; write 'provider:model', e.g. 'openai:gpt-4o'" in said


def test_check_lists_models_without_a_price(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text(
        "import stratum\n"
        "from stratum import infer\n"
        "stratum.configure(default_model='openai:gpt-4.1-mini')\n"
        "@infer(intent='a', model='anthropic:claude-sonnet-4-5')\n"
        "def a(x: str) -> str: ...\n"
        "@stratum.infer(intent='b', model='ollama:llama3.2')\n"
        "def b(x: str) -> str: ...\n"
        "@infer(intent='c', model='acme:secret-model')\n"
        "def c(x: str) -> str: ...\n"
    )
    (tmp_path / "broken.py").write_text("def (:\n")  # unparsable files are skipped
    assert main(["pricing", "--check", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "3 model string(s) found" not in out and "4 model string(s) found, 3 priced, 1 without a price" in out
    assert "ollama:llama3.2" not in out and "acme:secret-model" in out and "app.py:8" in out
    assert "gpt-4.1-mini" not in out.split("without a price", 1)[1]


def test_check_passes_when_code_configures_the_missing_prices(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text(
        "import stratum\n"
        "from stratum.pricing import Price\n"
        "stratum.configure(prices={'ollama:*': Price(0, 0)})\n"
        "@stratum.infer(intent='b', model='ollama:llama3.2')\n"
        "def b(x: str) -> str: ...\n"
    )
    assert main(["pricing", "--check", str(tmp_path)]) == 0
    assert "1 model string(s) found, 1 priced, 0 without a price" in capsys.readouterr().out
