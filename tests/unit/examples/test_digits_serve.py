"""The digits server's model loading and input checks (no HTTP: see the e2e test for that)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperpod.examples import digits, digits_serve


def test_unready_without_a_checkpoint_then_serves_the_newest(tmp_path: Path) -> None:
    model = digits_serve.Model(tmp_path)
    assert not model.refresh()
    with pytest.raises(LookupError, match="no checkpoint"):
        model.predict([[0.0] * 64])
    digits.save_checkpoint(tmp_path, {"model": digits.build_model().state_dict(), "step": 3})
    assert model.refresh() and model.loaded is not None and model.loaded.name.endswith("03.pt")
    (label,) = model.predict([[0.0] * 64])
    assert 0 <= label <= 9
    digits.save_checkpoint(tmp_path, {"model": digits.build_model().state_dict(), "step": 9})
    model.predict([[1.0] * 64])
    assert model.loaded.name.endswith("09.pt")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not JSON"),
        (b"[]", "pixels"),
        (b'{"instances": []}', "non-empty"),
        (b'{"pixels": [1, 2]}', "pixels must be a list of 64 numbers"),
        (b'{"instances": [[true]]}', "instances[0] must be"),
    ],
)
def test_bad_bodies_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(digits_serve.BadInput, match=message.replace("[", r"\[")):
        digits_serve.parse_rows(body)


def test_both_shapes_are_accepted() -> None:
    assert digits_serve.parse_rows(b'{"pixels": [' + b",".join([b"1"] * 64) + b"]}") == [[1] * 64]
    assert len(digits_serve.parse_rows(b'{"instances": [[' + b",".join([b"0"] * 64) + b"]]}")) == 1
