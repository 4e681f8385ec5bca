"""minicnn.summary and ``minicnn summary``: shapes, parameters, MACs, receptive fields,
activation and training memory, the seed's facts."""

from __future__ import annotations

import json

import numpy as np
import pytest

import minicnn
from minicnn import backend, models, nn
from minicnn.cli import main
from minicnn.ops.conv import set_im2col_limit
from minicnn.summary import seed_facts_table, summary, training_bytes_for


def conv_macs(out_shape: tuple[int, int, int], in_per_group: int, k: int) -> int:
    c, h, w = out_shape
    return c * h * w * in_per_group * k * k


def test_inception_multiply_adds() -> None:
    naive = summary(models.get("inception-naive"), (256, 28, 28))
    reduced = summary(models.get("inception-reduced"), (256, 28, 28))
    expect_naive = (conv_macs((128, 28, 28), 256, 1) + conv_macs((192, 28, 28), 256, 3)
                    + conv_macs((96, 28, 28), 256, 5))
    expect_reduced = (conv_macs((128, 28, 28), 256, 1) + 3 * conv_macs((64, 28, 28), 256, 1)
                      + conv_macs((192, 28, 28), 64, 3) + conv_macs((96, 28, 28), 64, 5))
    assert naive.total_macs == expect_naive == 854_196_224  # the seed's 854M
    assert reduced.total_macs == expect_reduced == 271_351_808  # not the seed's 458M
    assert naive.total_params == 1_089_952
    assert naive.layer("branch4.0").output_shape == [256, 28, 28]
    assert naive.depth == 1 and reduced.depth == 2


def test_receptive_fields_of_stacked_3x3() -> None:
    stack = nn.Sequential(*[nn.Conv2d(4, 4, 3, padding=1, bias=False) for _ in range(3)])
    s = summary(stack, (4, 16, 16))
    assert [lay.receptive_field for lay in s.layers] == [3, 5, 7]
    assert [lay.jump for lay in s.layers] == [1, 1, 1]
    assert s.total_params == 27 * 4 * 4
    one = summary(nn.Sequential(nn.Conv2d(4, 4, 7, padding=3, bias=False)), (4, 16, 16))
    assert one.layers[0].receptive_field == 7 and one.total_params == 49 * 4 * 4


def test_receptive_field_through_strides_dilation_and_flatten() -> None:
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3),                 # r 3, j 1          -> 14
        nn.MaxPool2d(2, 2),                 # r 4, j 2          -> 7
        nn.Conv2d(2, 2, 3, dilation=2),     # r 4 + 2*2*2 = 12  -> 3
        nn.AvgPool2d(3, stride=1),          # r 12 + 2*2 = 16   -> 1
        nn.Flatten(),
        nn.Linear(2, 3),
    )
    s = summary(model, (1, 16, 16))
    assert [(lay.receptive_field, lay.jump) for lay in s.layers] == [
        (3, 1), (4, 2), (12, 2), (16, 2), (16, 2), (16, 2)]
    assert s.layers[-1].macs == 6 and s.layers[0].macs == conv_macs((2, 14, 14), 1, 3)
    assert s.depth == 3


def test_branches_take_the_widest_receptive_field() -> None:
    s = summary(models.get("inception-reduced"), (256, 28, 28))
    assert s.layer("branch3.2").receptive_field == 5
    assert s.layer("branch4.1").receptive_field == 3  # pooled, then 1x1
    s = summary(models.get("resnet18", small=True), (3, 32, 32))
    # a residual block's output sees what its longest branch sees
    assert s.layer("layer1.0.relu2").receptive_field == s.layer("layer1.0.conv2").receptive_field
    assert s.layer("layer1.0.shortcut").receptive_field == s.layer("stem.0").receptive_field
    assert s.layer("fc").receptive_field == s.layer("avgpool").receptive_field
    assert s.depth == 18


def test_alexnet_summary_matches_the_paper() -> None:
    s = summary(models.alexnet(), (3, 227, 227), "alexnet")
    assert s.layer("features.0").output_shape == [96, 55, 55]
    assert s.layer("features.3").output_shape == [96, 27, 27]
    assert s.layer("features.0").macs == conv_macs((96, 55, 55), 3, 11) == 105_415_200
    assert s.layer("features.4").macs == conv_macs((256, 27, 27), 48, 5)  # groups=2
    assert s.layer("classifier.0").macs == 9216 * 4096
    assert s.total_params == 60_965_224
    assert s.total_macs == 724_406_816
    assert s.depth == 8 and s.count("Conv2d") == 5 and s.count("Linear") == 3
    assert s.layer("features.0").receptive_field == 11 and s.layer("features.0").jump == 4
    assert s.layer("features.14").receptive_field == 195
    # input plus every conv, pool and fc output, per image
    acts = 3 * 227 * 227 + 96 * 55 * 55 + 96 * 27 * 27 + 256 * 27 * 27 + 256 * 13 * 13 \
        + 384 * 13 * 13 * 2 + 256 * 13 * 13 + 256 * 6 * 6 + 4096 * 2 + 1000
    assert s.activation_elements == acts and s.activation_bytes == 4 * acts


def test_training_bytes_counts_graph_arrays_and_the_im2col_workspace() -> None:
    # (the reference kernels: their arrays are exactly the sizes below; the Numba set adds a
    # direct conv's planes and up to 64 bytes of alignment per array, counted in the next test)
    with backend.use_kernels("numpy"):
        # conv (saves x and W) -> flatten (a view): the graph holds the input and the conv
        # output once each; the workspace holds one image's columns.
        model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten())
        s = summary(model, (1, 5, 5))
        cols = 1 * 3 * 3 * 3 * 3 * 4
        assert s.extra["im2col_bytes"] == cols
        assert s.extra["graph_bytes"] == 25 * 4 + 18 * 4
        assert s.training_bytes == 25 * 4 + 18 * 4 + cols
        # a ReLU adds its output, which it saves for backward (no mask)
        model = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.ReLU(), nn.Flatten())
        assert summary(model, (1, 5, 5)).extra["graph_bytes"] == 25 * 4 + 18 * 4 * 2
        # 1x1 convolutions need no im2col
        assert summary(nn.Sequential(nn.Conv2d(3, 4, 1)), (3, 8, 8)).extra["im2col_bytes"] == 0
        # batches scale the graph, the workspace is bounded
        s2 = summary(model, (1, 5, 5), batch_size=4)
        assert s2.extra["graph_bytes"] == 4 * (25 * 4 + 18 * 4 * 2)
        assert training_bytes_for(s, 4) == 4 * s.extra["graph_bytes"] + 4 * cols
        set_im2col_limit(2 * cols)
        try:
            assert training_bytes_for(s, 4) == 4 * s.extra["graph_bytes"] + 2 * cols
        finally:
            set_im2col_limit(None)


def test_graph_bytes_count_a_direct_convs_planes() -> None:
    """The direct conv keeps its input laid out (about 1.1x x on row planes) from forward to
    backward for the weight gradient: the graph's bytes count it."""
    pytest.importorskip("numba")
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, bias=False), nn.Flatten())
    with backend.use_kernels("numpy"):
        plain = summary(model, (4, 16, 16)).extra["graph_bytes"]
    with backend.use_kernels("numba"):
        with_planes = summary(model, (4, 16, 16)).extra["graph_bytes"]
    x_bytes = 4 * 16 * 16 * 4
    assert x_bytes <= with_planes - plain <= 2 * x_bytes


def test_summary_leaves_the_model_as_it_was() -> None:
    model = models.get("resnet20", small=True).eval()
    before = [b.numpy().copy() for b in model.buffers()]
    summary(model, (3, 32, 32))
    assert model.training is False
    for b, old in zip(model.buffers(), before):
        np.testing.assert_array_equal(b.numpy(), old)
    assert all(not m._forward_hooks for m in model.modules())


def test_googlenet_aux_heads_listed_in_training_only() -> None:
    model = models.get("googlenet", small=True)
    train = summary(model, (3, 32, 32))
    infer = summary(model, (3, 32, 32), training=False)
    assert any(lay.name.startswith("aux1.") for lay in train.layers)
    assert not any(lay.name.startswith("aux") for lay in infer.layers)
    assert train.total_params == infer.total_params  # all parameters, always
    assert train.total_macs > infer.total_macs
    assert infer.depth == 22 and infer.count("Linear") == 1


def test_summary_table_text() -> None:
    s = summary(models.get("nin", small=True), (3, 32, 32), "nin")
    text = str(s)
    assert "features.0.0" in text and "Conv2d" in text
    assert f"{s.total_params:,}" in text and "kept for backward" in text
    with pytest.raises(KeyError, match="no layer named"):
        s.layer("nope")
    with pytest.raises(ValueError, match="input_shape"):
        summary(models.get("nin", small=True), (32, 32))


def test_cli_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "resnet20", "--small", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert set(d) >= {"model", "input_shape", "layers", "total_params", "total_macs",
                      "activation_elements", "activation_bytes", "training_bytes"}
    assert d["input_shape"] == [3, 32, 32] and d["total_params"] == 68_050
    lay = d["layers"][0]
    assert set(lay) >= {"name", "type", "output_shape", "params", "macs",
                        "receptive_field", "jump"}
    assert lay["output_shape"] == [8, 32, 32] and lay["receptive_field"] == 3
    assert all(isinstance(lay[k], int) for k in ("params", "macs", "receptive_field", "jump"))


def test_cli_options_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "vgg11", "--small", "--in-channels", "1", "--input", "1,32,32",
                 "--num-classes", "4"]) == 0
    out = capsys.readouterr().out
    assert "classifier.6" in out and "1x32x32" in out
    assert main(["summary", "--list"]) == 0
    assert "inception-naive" in capsys.readouterr().out
    assert main(["summary", "lenet"]) == 2
    assert "unknown network 'lenet'" in capsys.readouterr().err
    assert main(["summary", "vgg11", "--small", "--input", "32,32"]) == 2
    assert "C,H,W" in capsys.readouterr().err
    assert main(["summary"]) == 2


def test_float64_models_are_summarised_in_float64() -> None:
    model = models.get("zfnet", small=True).double()
    s = summary(model, (3, 32, 32))
    assert s.activation_bytes == 8 * s.activation_elements
    assert minicnn.float64 == next(model.parameters()).dtype


def test_seed_facts_table() -> None:  # full-size forward passes: about 15 s
    table = seed_facts_table()
    for fact in ("55x55x96", "27x27x96", "60,965,224", "138,357,544", "15,237,608",
                 "61.0 MB", "854,196,224", "271,351,808", "6,998,552", "13,378,280",
                 "3, 5, 7", "110,592", "200,704", "22 weight layers", "152 weight layers"):
        assert fact in table, fact
    assert table.startswith("| topic | what the notes say | what minicnn measures |")
