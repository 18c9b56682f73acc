"""Bad input gets a clear error naming what is wrong."""

import re

import numpy as np
import pytest
import torch

from physnn.sfq import (
    CellLibraryError,
    LayerSpec,
    SFQLayer,
    SFQNetwork,
    SFQSynapse,
    TransferFileError,
    load_transfer,
    network_netlist,
)
from physnn.sfq.transfer import default_transfer_path


@pytest.fixture(scope="module")
def curves():
    return load_transfer()


def test_bias_outside_physical_range(curves):
    with pytest.raises(ValueError, match=r"bias: bias current 300 uA outside the physical range \[100, 220\] uA"):
        SFQSynapse((2,), bias_A=300e-6, curves=curves)
    layer = SFQLayer(2, 1, curves=curves)
    with torch.no_grad():
        layer.neuron_bias.fill_(-5e-6)
    with pytest.raises(ValueError, match="neuron_bias: bias current -5 uA outside"):
        layer(torch.zeros(1, 2, dtype=torch.float64))
    net = SFQNetwork([layer])
    with pytest.raises(ValueError, match="layers.0.neuron_bias"):
        net.check_biases()
    net.clamp_biases_()
    net.check_biases()


def test_input_rate_above_clock(curves):
    net = SFQNetwork([SFQLayer(2, 1, curves=curves)])
    with pytest.raises(ValueError, match="above the clock"):
        net.rates(torch.tensor([[net.clock_hz * 1.5, 0.0]]))
    with pytest.raises(ValueError, match="above the clock rate"):
        net(torch.tensor([[1.2, 0.0]], dtype=torch.float64))


def test_netlist_naming_a_missing_cell():
    spec = LayerSpec(
        synapse_bias_A=np.full((1, 2), 180e-6), neuron_bias_A=np.array([150e-6]), neuron_cell="sfq_neuron_v2"
    )
    with pytest.raises(CellLibraryError, match="cell 'sfq_neuron_v2' is not in the SFQ cell library"):
        network_netlist([spec], np.ones((2, 2), bool))


def _rewrite(tmp_path, fn):
    text = default_transfer_path().read_text()
    p = tmp_path / "t.toml"
    p.write_text(fn(text))
    return p


def test_transfer_file_not_matching_its_cell(tmp_path):
    # fitted to another netlist (hash differs)
    p = _rewrite(
        tmp_path,
        lambda t: re.sub(r'(\[synapse\][^\[]*?cell_sha256 = ")[0-9a-f]{6}', r"\g<1>000000", t, count=1, flags=re.S),
    )
    with pytest.raises(TransferFileError, match=r"\[synapse\] cell_sha256 does not match the current netlist"):
        load_transfer(p)
    # neuron table claims another fan-in than its pattern count
    p = _rewrite(
        tmp_path,
        lambda t: t.replace(
            '[neuron.fan_in_2]\ncell = "neuron"\nfan_in = 2', '[neuron.fan_in_2]\ncell = "neuron"\nfan_in = 3', 1
        ),
    )
    with pytest.raises(TransferFileError, match="fan_in"):
        load_transfer(p)
    # a synapse table pointing at the neuron cell
    p = _rewrite(tmp_path, lambda t: t.replace('[synapse]\ncell = "synapse"', '[synapse]\ncell = "neuron"', 1))
    with pytest.raises(TransferFileError, match=r"cell = 'neuron', expected 'synapse'"):
        load_transfer(p)
    p = tmp_path / "bad.toml"
    p.write_text("[provenance]\n")
    with pytest.raises(TransferFileError, match="missing section"):
        load_transfer(p)


def test_context_table_not_matching_its_neuron(tmp_path):
    # a synapse-context table must hold one entry per (line, context) of its neuron's fan-in
    def drop_entry(t):
        head, sep, rest = t.partition("[neuron.fan_in_2.synapse_context]")
        assert sep, "the shipped file has a context table for fan-in 2"
        rest = re.sub(r"scale_A = \[\n([^\]]*?),\n[^\]]*?\]", r"scale_A = [\n\1,\n]", rest, count=1)
        return head + sep + rest

    p = _rewrite(tmp_path, drop_entry)
    with pytest.raises(
        TransferFileError, match=r"\[neuron.fan_in_2.synapse_context\] needs 3 \(line, context\) entries"
    ):
        load_transfer(p)
    p = _rewrite(
        tmp_path,
        lambda t: t.replace(
            '[neuron.fan_in_2.synapse_context]\ncell = "synapse"\nfan_in = 2',
            '[neuron.fan_in_2.synapse_context]\ncell = "synapse"\nfan_in = 4',
            1,
        ),
    )
    with pytest.raises(TransferFileError, match="has fan_in = 4, its neuron table 2"):
        load_transfer(p)
