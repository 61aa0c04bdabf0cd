"""`seq2seq demo` end to end, on the toy config so it runs in seconds."""

from pathlib import Path

import pytest

from seq2seq.cli import main


@pytest.mark.integration
def test_demo_trains_shows_samples_and_scores_the_test_split(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model_dir = tmp_path / "demo"
    code = main(["demo", "--config", "toy/reverse-lstm", "--minutes", "0.05", "-o", str(model_dir)])
    out = capsys.readouterr().out
    assert code == 0
    assert (model_dir / "model.safetensors").is_file()
    assert out.count("source:     ") == 5
    assert out.count("reference:  ") == 5
    assert out.count("translated: ") == 5
    assert "Translating the test split (200 sentences, beam 1)" in out
    assert "BLEU = " in out and "chrF2 = " in out
    assert f"seq2seq translate {model_dir}" in out
