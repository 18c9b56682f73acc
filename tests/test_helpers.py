"""The one-home helpers: physnn.random.own_generator / draw_seed, physnn._io, physnn.units.label."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr

from physnn._io import atomic_write, content_key, file_sha256
from physnn.random import draw_seed, own_generator
from physnn.units import label


def test_own_generator_keeps_a_given_one_and_seeds_from_the_global_one():
    g = torch.Generator().manual_seed(3)
    assert own_generator(g) is g
    torch.manual_seed(11)
    a = torch.rand(4, generator=own_generator(None))
    torch.manual_seed(11)
    mine = own_generator(None)
    torch.rand(100)  # later global draws do not move it
    assert torch.equal(torch.rand(4, generator=mine), a)
    with pytest.raises(TypeError, match="gen: expected torch.Generator or None"):
        own_generator(5, "gen")


def test_draw_seed_is_one_reproducible_draw_below_2_62():
    s = [draw_seed(torch.Generator().manual_seed(k)) for k in range(50)]
    assert all(0 <= v < 2**62 for v in s) and len(set(s)) == 50
    assert draw_seed(torch.Generator().manual_seed(7)) == draw_seed(torch.Generator().manual_seed(7))
    with pytest.raises(TypeError, match="generator"):
        draw_seed(np.random.default_rng(0))


def test_atomic_write_replaces_whole_or_leaves_the_old_file(tmp_path):
    p = tmp_path / "state.txt"
    p.write_text("old")

    def half(tmp):
        tmp.write_text("ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(p, half)
    assert p.read_text() == "old" and sorted(x.name for x in tmp_path.iterdir()) == ["state.txt"]
    atomic_write(p, lambda tmp: tmp.write_text("new"), fsync=True)
    assert p.read_text() == "new" and sorted(x.name for x in tmp_path.iterdir()) == ["state.txt"]
    q = tmp_path / "a.npz"  # numpy.savez appends .npz unless the name has it
    atomic_write(q, lambda tmp: np.savez(tmp, x=np.arange(3)), suffix=".npz")
    assert np.load(q)["x"].tolist() == [0, 1, 2] and not list(tmp_path.glob(".*"))


def test_content_key_follows_content_not_order(tmp_path):
    assert content_key({"a": 1, "b": [1.0, 2.0]}) == content_key({"b": [1.0, 2.0], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    assert len(content_key({"a": 1}, length=20)) == 20
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert file_sha256(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"  # FIPS 180-2 "abc"


def test_label_sets_units_and_long_name():
    ds = xr.Dataset({"i": ("t", np.zeros(3))}, coords={"t": np.arange(3)})
    assert label(ds, i=("A", "bias current"), t=("s", "time")) is ds
    assert ds["i"].attrs == {"units": "A", "long_name": "bias current"} and ds["t"].attrs["units"] == "s"
    with pytest.raises(ValueError, match="i='A': must be a \\(units, long_name\\) pair"):
        label(ds, i="A")
