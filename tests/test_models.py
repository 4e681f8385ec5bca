"""The case-study zoo: exact parameter counts, full-size shapes, small versions forward and
backward, and the structural choices each paper makes (LRN, groups, aux heads, shortcuts)."""

from __future__ import annotations

import numpy as np
import pytest

import minicnn
import minicnn.functional as F
from minicnn import models, nn
from minicnn.models.resnet import PadShortcut


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Every count of the issue, plus the ones the docstrings state. The ImageNet counts are
# torchvision's (1000 classes), the CIFAR ones are for 10 classes.
COUNTS = {
    "alexnet": 60_965_224,
    "zfnet": 62_357_608,
    "vgg11": 132_863_336,
    "vgg13": 133_047_848,
    "vgg16": 138_357_544,
    "vgg19": 143_667_240,
    "nin": 7_595_176,
    "googlenet": 13_378_280,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "wrn28_10": 36_479_194,
    "wrn16_8": 10_961_370,
    "preact_resnet18": 11_687_720,
    "preact_resnet164": 1_703_258,
    "preact_resnet110": 1_730_522,
    "preact_resnet1001": 10_327_706,
    "resnet20": 269_722,
    "resnet56": 853_018,
    "plain20": 269_722,
    "plain56": 853_018,
}

# Networks cheap enough to run at full size on one image in the fast set.
FAST_FULL = ["alexnet", "zfnet", "nin", "googlenet", "resnet18", "resnet34", "resnet50",
             "preact_resnet18", "preact_resnet50", "resnet20", "resnet56", "plain20",
             "wrn16_8", "preact_resnet164"]


# building these takes seconds each (hundreds of millions of weights to initialise)
SLOW_COUNTS = {"vgg13", "vgg19", "wide_resnet101_2"}


@pytest.mark.parametrize("name", [n for n in COUNTS if n not in SLOW_COUNTS])
def test_parameter_count(name: str) -> None:
    assert n_params(models.get(name)) == COUNTS[name]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SLOW_COUNTS))
def test_parameter_count_slow(name: str) -> None:
    assert n_params(models.get(name)) == COUNTS[name]


def test_count_variants() -> None:
    assert n_params(models.googlenet(aux_logits=False)) == 6_998_552
    # AlexNet without the two-GPU split: conv2, conv4, conv5 see all maps
    assert n_params(models.alexnet(groups=1)) == 62_378_344
    # the stride's place in the bottleneck does not change the count
    assert n_params(models.resnet50(v1=True)) == 25_557_032
    assert n_params(models.get("resnet18", num_classes=10)) == 11_689_512 - 513 * 990


@pytest.mark.slow
def test_vgg16_bn_count() -> None:
    assert n_params(models.vgg16(batch_norm=True)) == 138_365_992


@pytest.mark.parametrize("name", FAST_FULL)
def test_full_size_output(name: str) -> None:
    # Training mode: batch norm normalises with the batch's statistics. In eval mode an
    # untrained deep residual net uses running statistics of 0 and 1, its residual sums grow
    # block by block and ResNet-1001 overflows float32.
    minicnn.manual_seed(0)
    model = models.get(name)
    shape = models.input_shape(name)
    with minicnn.no_grad():
        out = model(minicnn.randn(1, *shape))
    y = out.logits if isinstance(out, models.GoogLeNetOutputs) else out
    classes = 10 if shape[1] == 32 else 1000
    assert isinstance(y, minicnn.Tensor)
    assert y.shape == (1, classes)
    assert np.isfinite(y.numpy()).all()


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(models.names()) - set(FAST_FULL)))
def test_full_size_output_slow(name: str) -> None:
    test_full_size_output(name)


def _shapes(model: nn.Module, x: minicnn.Tensor, kinds: tuple[type, ...]) -> list[tuple]:
    out: list[tuple] = []
    handles = [m.register_forward_hook(lambda m, i, o: out.append(o.shape[1:]))
               for m in model.modules() if isinstance(m, kinds)]
    with minicnn.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return out


def test_alexnet_shapes_as_in_the_paper() -> None:
    model = models.alexnet().eval()
    shapes = _shapes(model, minicnn.randn(1, 3, 227, 227), (nn.Conv2d, nn.MaxPool2d))
    assert shapes == [(96, 55, 55), (96, 27, 27), (256, 27, 27), (256, 13, 13),
                      (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6)]
    lrn = [m for m in model.modules() if isinstance(m, nn.LocalResponseNorm)]
    assert len(lrn) == 2
    # the paper's constants in PyTorch's convention: alpha is divided by the window size
    assert (lrn[0].size, lrn[0].alpha, lrn[0].beta, lrn[0].k) == (5, 5e-4, 0.75, 2.0)
    groups = [m.groups for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert groups == [1, 2, 1, 2, 2]
    pools = [m for m in model.modules() if isinstance(m, nn.MaxPool2d)]
    assert all((p.kernel_size, p.stride) == (3, 2) for p in pools)  # overlapping
    drops = [m.p for m in model.modules() if isinstance(m, nn.Dropout)]
    assert drops == [0.5, 0.5]


def test_zfnet_shapes_as_in_the_paper() -> None:
    model = models.zfnet().eval()
    shapes = _shapes(model, minicnn.randn(1, 3, 224, 224), (nn.Conv2d, nn.MaxPool2d))
    assert shapes == [(96, 110, 110), (96, 55, 55), (256, 26, 26), (256, 13, 13),
                      (384, 13, 13), (384, 13, 13), (256, 13, 13), (256, 6, 6)]
    assert all(m.groups == 1 for m in model.modules() if isinstance(m, nn.Conv2d))


def test_googlenet_stages_as_in_table_1() -> None:
    model = models.googlenet().eval()
    blocks = [m for m in model.modules() if isinstance(m, models.InceptionModule)]
    shapes = _shapes(model, minicnn.randn(1, 3, 224, 224), (models.InceptionModule,))
    assert [b.out_channels for b in blocks] == [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    assert [s[1] for s in shapes] == [28, 28, 14, 14, 14, 14, 14, 7, 7]
    assert [s[0] for s in shapes] == [b.out_channels for b in blocks]
    # real 5x5 branches (not torchvision's 3x3)
    assert all(b.branch3[2].kernel_size == (5, 5) for b in blocks)


def test_googlenet_aux_heads_in_training_only() -> None:
    model = models.get("googlenet", small=True, num_classes=7)
    assert model.aux_loss_weight == 0.3
    x = minicnn.randn(2, 3, 32, 32)
    out = model(x)
    assert isinstance(out, models.GoogLeNetOutputs)
    assert out._fields == ("logits", "aux_logits2", "aux_logits1")
    assert all(o.shape == (2, 7) for o in out)
    model.eval()
    y = model(x)
    assert isinstance(y, minicnn.Tensor) and y.shape == (2, 7)
    np.testing.assert_array_equal(model(x).numpy(), y.numpy())  # eval is deterministic
    no_aux = models.get("googlenet", small=True, aux_logits=False)
    assert isinstance(no_aux(x), minicnn.Tensor)


def test_inception_module_naive_and_reduced() -> None:
    naive = models.get("inception-naive")
    reduced = models.get("inception-reduced")
    assert naive.out_channels == 672 and reduced.out_channels == 480
    x = minicnn.randn(1, 256, 28, 28)
    with minicnn.no_grad():
        assert naive(x).shape == (1, 672, 28, 28)
        assert reduced(x).shape == (1, 480, 28, 28)
    # the naive pooling branch passes every input map through unchanged in depth
    assert len(naive.branch4) == 1 and isinstance(naive.branch4[0], nn.MaxPool2d)
    assert isinstance(reduced.branch2[0], nn.Conv2d) and reduced.branch2[0].kernel_size == (1, 1)
    with pytest.raises(ValueError, match="single module"):
        models.get("inception-naive", small=True)


def test_vgg_uses_only_3x3_convs_and_2x2_pools() -> None:
    model = models.vgg16(small=True)  # the same layout as the full network
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 13
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert len([m for m in model.modules() if isinstance(m, nn.Linear)]) == 3
    with pytest.raises(ValueError, match="depth must be one of"):
        models.VGG(17)


def test_nin_has_no_fully_connected_layer() -> None:
    model = models.nin()
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    assert isinstance(model.pool, nn.AdaptiveAvgPool2d)
    one_by_one = [m for m in model.modules()
                  if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1)]
    assert len(one_by_one) == 8


def test_resnet_v1_moves_the_stride_to_the_first_1x1() -> None:
    v15 = models.resnet50().layer2[0]
    v1 = models.resnet50(v1=True).layer2[0]
    assert (v15.conv1.stride, v15.conv2.stride) == ((1, 1), (2, 2))
    assert (v1.conv1.stride, v1.conv2.stride) == ((2, 2), (1, 1))
    assert isinstance(v15.shortcut, nn.Sequential)  # projection where the shape changes
    assert isinstance(models.resnet50().layer1[1].shortcut, nn.Identity)


def test_plain_nets_have_no_shortcuts() -> None:
    for name in ("plain18", "plain20"):
        model = models.get(name)
        blocks = [m for m in model.modules() if isinstance(m, models.BasicBlock)]
        assert blocks and all(b.shortcut is None for b in blocks)
    deep = models.plain_resnet(56)
    assert sum(isinstance(m, nn.Conv2d) for m in deep.modules()) == 55
    with pytest.raises(ValueError, match="6n\\+2"):
        models.plain_resnet(21)


def test_zero_padding_shortcut() -> None:
    sc = PadShortcut(2, 4, 2)
    x = minicnn.randn(1, 2, 4, 4)
    y = sc(x).numpy()
    assert y.shape == (1, 4, 2, 2)
    np.testing.assert_array_equal(y[:, :2], x.numpy()[:, :, ::2, ::2])
    np.testing.assert_array_equal(y[:, 2:], 0)


def test_preact_blocks_add_without_a_relu_after() -> None:
    model = models.get("preact_resnet18", small=True)
    block = model.stages[0][1]
    assert isinstance(block, models.PreActBasicBlock) and block.preact == "branch"
    out = block(minicnn.randn(2, 8, 8, 8))
    assert (out.numpy() < 0).any()  # post-activation blocks end in ReLU, these do not
    post = models.get("resnet18", small=True).layer1[1]
    assert (post(minicnn.randn(2, 8, 8, 8)).numpy() >= 0).all()
    # the extra BN-ReLU before pooling
    assert isinstance(model.bn, nn.BatchNorm2d) and isinstance(model.relu, nn.ReLU)
    # the ImageNet stem is activated already: the first block skips its BN-ReLU
    assert models.preact_resnet18().stages[0][0].preact == "none"


def test_wrn_layout_and_dropout() -> None:
    model = models.wrn(16, 8, dropout=0.3)
    blocks = [m for m in model.modules() if isinstance(m, models.PreActBasicBlock)]
    assert len(blocks) == 6
    assert [b.conv2.out_channels for b in blocks[::2]] == [128, 256, 512]
    assert all(isinstance(b.dropout, nn.Dropout) and b.dropout.p == 0.3 for b in blocks)
    with pytest.raises(ValueError, match="6n\\+4"):
        models.wrn(15, 2)


def test_registry() -> None:
    names = models.names()
    assert len(names) == len(set(names))
    for expected in ("alexnet", "zfnet", "vgg16", "nin", "googlenet", "resnet152",
                     "preact_resnet1001", "wide_resnet50_2", "wrn28_10", "plain56"):
        assert expected in names
    with pytest.raises(ValueError, match="unknown network 'lenet'"):
        models.get("lenet")
    assert models.input_shape("alexnet") == (3, 227, 227)
    assert models.input_shape("vgg16") == (3, 224, 224)
    assert models.input_shape("wrn28_10") == (3, 32, 32)
    assert models.input_shape("resnet50", small=True, in_channels=1) == (1, 32, 32)
    assert models.input_shape("inception-naive") == (256, 28, 28)


@pytest.mark.parametrize("name", models.names())
def test_small_forward_backward(name: str) -> None:
    minicnn.manual_seed(0)
    model = models.get(name, small=True, in_channels=1, num_classes=10)
    x = minicnn.randn(2, 1, 32, 32)
    out = model(x)
    logits = out[0] if isinstance(out, tuple) else out
    assert logits.shape == (2, 10)
    loss = F.cross_entropy(logits, minicnn.tensor([1, 7], dtype="int64"))
    if isinstance(out, tuple):
        for aux in out[1:]:
            loss = loss + model.aux_loss_weight * F.cross_entropy(
                aux, minicnn.tensor([1, 7], dtype="int64"))
    loss.backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        assert p.grad.shape == p.shape, pname
        assert np.isfinite(p.grad.numpy()).all(), pname
    assert any(np.abs(p.grad.numpy()).max() > 0 for p in model.parameters())
    # small: well under a million parameters, so an epoch of 2,000 images is quick
    assert n_params(model) < 400_000
