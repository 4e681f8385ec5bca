"""What a network is made of, measured by running it: layers, parameters, multiply-accumulates,
receptive fields, activation memory and the memory minicnn keeps for backward.

``summary(model, input_shape)`` runs one training-mode forward pass on one random image
(``batch_size`` images) with the graph recorded, and reads everything off that run:

* per layer (every leaf module, in call order): output shape, own parameters, MACs, and the
  receptive field in input pixels with its jump (the input-pixel distance between adjacent
  outputs; Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural
  Networks", Distill 2019): a kxk layer with stride s and dilation d maps (r, j) to
  (r + (k - 1) d j, j s); branches that meet (concatenation, residual addition) take the
  largest; flattening a map of side h covers it whole, r + (h - 1) j. Square kernels: the
  height direction is reported.
* MACs: the multiply-accumulates of convolutions (output elements x C_in/groups x kh x kw)
  and fully connected layers (in x out), per image; pooling, normalisation, activations and
  bias additions are not counted (the convention of the seed's 854M).
* activation elements: the input plus the output of every convolution, pooling and fully
  connected layer, per image (ReLU, dropout and flatten are taken as in place or views and
  not counted; batch norm, LRN and concatenations are not counted either: the convention of
  the cs231n VGG-16 count the seed quotes). ``activation_bytes`` is that times the item size.
* training bytes (per ``batch_size`` images), what minicnn really holds between the forward
  pass and backward: every distinct array the recorded graph keeps alive, that is the arrays
  Functions saved (ReLU outputs, which are the next layer's inputs anyway, dropout scales,
  batch norm's input and per-channel statistics, LRN's scale, pooling argmax indices) and
  the data of every Tensor a Function holds as an input (minicnn's graph keeps the inputs
  of each op alive, so every intermediate activation is counted),
  deduplicated by the memory they share (views count once), plus the im2col workspace: the
  convolution keeps one reused buffer, as large as the largest layer's columns (bounded by
  :func:`minicnn.ops.conv.get_im2col_limit`), whose columns are recomputed in backward
  rather than stored per layer. Parameters and their gradients are not counted.
* depth: the most convolution and fully connected layers on one path from input to output
  (GoogLeNet's "22 layers", ResNet-152's 152).

Running the model changes nothing in it: the mode and batch-norm running statistics are
restored afterwards.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from minicnn import nn
from minicnn.function import set_grad_enabled
from minicnn.ops.conv import get_im2col_limit
from minicnn.tensor import Tensor, randn

_POOLS = ("MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d")
_WEIGHTED = ("Conv2d", "Linear")


@dataclass
class Layer:
    """One call of a leaf module in the summarised forward pass."""

    name: str
    type: str
    output_shape: list[int]
    params: int
    macs: int
    receptive_field: int
    jump: int


@dataclass
class Summary:
    """The result of :func:`summary`; ``str()`` is a table, ``to_dict()`` the JSON object."""

    model: str
    input_shape: list[int]
    layers: list[Layer]
    total_params: int
    total_macs: int
    activation_elements: int
    activation_bytes: int
    training_bytes: int
    depth: int
    batch_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of ``minicnn summary --json``."""
        # not asdict(self): it would deep-copy ``extra``, which holds the model's modules
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "extra"}
        d["layers"] = [asdict(lay) for lay in self.layers]
        return d

    def to_json(self, indent: int | None = None) -> str:
        """:meth:`to_dict` as JSON text."""
        return json.dumps(self.to_dict(), indent=indent)

    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (as in ``model.named_modules()``)."""
        for lay in self.layers:
            if lay.name == name:
                return lay
        raise KeyError(f"summary of {self.model}: no layer named {name!r}")

    def count(self, type_name: str) -> int:
        """How many layer calls have type ``type_name`` (e.g. 'Linear', 'Dropout')."""
        return sum(1 for lay in self.layers if lay.type == type_name)

    def __str__(self) -> str:
        head = ("layer", "type", "output", "params", "MACs", "RF", "jump")
        rows = [head] + [
            (lay.name, lay.type, "x".join(str(s) for s in lay.output_shape),
             f"{lay.params:,}", f"{lay.macs:,}", str(lay.receptive_field), str(lay.jump))
            for lay in self.layers
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        right = {3, 4, 5, 6}
        lines = []
        for k, r in enumerate(rows):
            cells = [c.rjust(w) if i in right else c.ljust(w)
                     for i, (c, w) in enumerate(zip(r, widths))]
            lines.append("  ".join(cells).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        shape = "x".join(str(s) for s in self.input_shape)
        lines += [
            "",
            f"model                {self.model} on {shape}",
            f"parameters           {self.total_params:,}",
            f"MACs per image       {self.total_macs:,}",
            f"depth                {self.depth} conv/fc layers on the longest path",
            f"activations / image  {self.activation_elements:,} elements, "
            f"{_mb(self.activation_bytes)}",
            f"kept for backward    {_mb(self.training_bytes)} for {self.batch_size} image(s) "
            "in training (graph-held arrays + im2col workspace)",
        ]
        return "\n".join(lines)


def _mb(nbytes: int) -> str:
    return f"{nbytes:,} bytes ({nbytes / 1e6:.1f} MB, {nbytes / 2**20:.1f} MiB)"


@dataclass
class _Info:
    """Receptive field r, jump j, side of the map h, and weighted depth of one tensor."""

    rf: int
    jump: int
    side: int
    depth: int


def _first(v: Any) -> int:
    return int(v[0]) if isinstance(v, (tuple, list)) else int(v)


def _side(t: Tensor) -> int:
    return t.shape[2] if t.ndim == 4 else 1


def _combine(parents: list[_Info], out: Tensor) -> _Info:
    """A non-module op (cat, +, reshape...): the widest parent, and full coverage when a map
    is flattened."""
    rf = max(p.rf for p in parents)
    jump = max(p.jump for p in parents)
    depth = max(p.depth for p in parents)
    side = max(p.side for p in parents)
    if out.ndim < 4 and side > 1:
        return _Info(rf + (side - 1) * jump, jump * side, 1, depth)
    return _Info(rf, jump, _side(out) if out.ndim == 4 else side, depth)


class _Tracker:
    """Follows receptive fields through module calls (hooks) and plain ops (the graph)."""

    def __init__(self, x: Tensor):
        self.info: dict[int, _Info] = {id(x): _Info(1, 1, _side(x), 0)}
        self.keep: list[Tensor] = [x]  # ids stay unique while the tensors live

    def of(self, t: Tensor) -> _Info:
        if id(t) in self.info:
            return self.info[id(t)]
        # walk the graph back to tensors whose info is known, without recursion
        stack: list[tuple[Tensor, bool]] = [(t, False)]
        while stack:
            u, ready = stack.pop()
            if id(u) in self.info:
                continue
            parents = [] if u._ctx is None else [p for p in u._ctx.inputs
                                                 if isinstance(p, Tensor)]
            if not ready:
                stack.append((u, True))
                stack.extend((p, False) for p in parents if id(p) not in self.info)
                continue
            known = [self.info[id(p)] for p in parents if id(p) in self.info]
            if not known:  # a constant: covers nothing
                self.set(u, _Info(1, 1, _side(u), 0))
            else:
                self.set(u, _combine(known, u))
        return self.info[id(t)]

    def set(self, t: Tensor, info: _Info) -> None:
        self.info[id(t)] = info
        self.keep.append(t)


def _layer_info(module: nn.Module, inp: _Info, x: Tensor, out: Tensor) -> tuple[_Info, int]:
    """(output info, MACs per image) of one leaf module call."""
    kind = type(module).__name__
    n = x.shape[0] if x.ndim >= 1 else 1
    per_image = out.numel() // max(n, 1)
    side = _side(out)
    if kind == "Conv2d":
        k, s, d = module.kernel_size[0], module.stride[0], module.dilation[0]
        macs = per_image * (module.in_channels // module.groups) * module.kernel_size[0] \
            * module.kernel_size[1]
        return _Info(inp.rf + (k - 1) * d * inp.jump, inp.jump * s, side, inp.depth + 1), macs
    if kind in ("MaxPool2d", "AvgPool2d"):
        k, s = _first(module.kernel_size), _first(module.stride)
        d = _first(getattr(module, "dilation", 1))
        return _Info(inp.rf + (k - 1) * d * inp.jump, inp.jump * s, side, inp.depth), 0
    if kind == "AdaptiveAvgPool2d":
        h = x.shape[2]
        o = side
        s = h // o
        k = h - (o - 1) * s
        return _Info(inp.rf + (k - 1) * inp.jump, inp.jump * s, side, inp.depth), 0
    if kind == "Linear":
        macs = per_image * module.in_features
        return _combine([_Info(inp.rf, inp.jump, inp.side, inp.depth + 1)], out), macs
    if kind == "PadShortcut":
        return _Info(inp.rf, inp.jump * module.stride, side, inp.depth), 0
    return _combine([inp], out), 0


def _base(a: np.ndarray) -> np.ndarray:
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def _graph_bytes(outputs: Sequence[Tensor], exclude: set[int]) -> int:
    """Bytes of the distinct arrays the graph behind ``outputs`` keeps alive."""
    seen_fn: set[int] = set()
    seen_mem: dict[int, int] = {}
    stack = [o._ctx for o in outputs if o._ctx is not None]

    def add(a: Any) -> None:
        if isinstance(a, Tensor):
            a = a.data
        if isinstance(a, np.ndarray):
            b = _base(a)
            if id(b) not in exclude and id(a) not in exclude:
                seen_mem[id(b)] = b.nbytes
        elif isinstance(a, (tuple, list)):
            for e in a:
                add(e)
        elif hasattr(a, "nbytes") and hasattr(a, "shape"):  # a CuPy array
            seen_mem[id(a)] = int(a.nbytes)

    for o in outputs:
        add(o)
    while stack:
        fn = stack.pop()
        if id(fn) in seen_fn:
            continue
        seen_fn.add(id(fn))
        add(fn.saved_tensors)
        add(getattr(fn, "planes", None))  # a direct conv's input laid out for backward
        for p in fn.inputs:
            if isinstance(p, Tensor):
                add(p)
                if p._ctx is not None:
                    stack.append(p._ctx)
    return sum(seen_mem.values())


def _im2col_bytes(calls: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...], int]]) -> int:
    """The im2col workspace: the largest layer's columns, in chunks bounded by the limit."""
    limit = get_im2col_limit()
    best = 0
    for m, xs, ys, itemsize in calls:
        kh, kw = m.kernel_size
        pointwise = (kh, kw) == (1, 1) and m.stride == (1, 1) and m.padding == (0, 0) \
            and m.dilation == (1, 1)
        if pointwise:
            continue
        n = xs[0]
        per_image = xs[1] * kh * kw * ys[2] * ys[3] * itemsize
        chunk = max(1, min(n, limit // max(per_image, 1)))
        best = max(best, chunk * per_image)
    return best


def summary(model: nn.Module, input_shape: Sequence[int], name: str | None = None,
            batch_size: int = 1, training: bool = True, dtype: Any = None) -> Summary:
    """Summarise ``model`` on inputs of shape ``input_shape`` = (C, H, W).

    Runs one forward pass on ``batch_size`` random images (in the parameters' dtype unless
    ``dtype`` says otherwise) with the graph recorded, in training mode (GoogLeNet's
    auxiliary heads run and are listed) or, with ``training=False``, in eval mode (the
    inference network; ``training_bytes`` is then what that graph holds). What is measured,
    and how, is in this module's docstring. The model's mode and buffers (batch-norm running
    statistics) are restored.
    """
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"summary: input_shape must be (C, H, W) of positive ints, got "
                         f"{tuple(input_shape)}")
    if batch_size < 1:
        raise ValueError(f"summary: batch_size must be >= 1, got {batch_size}")
    if dtype is None:
        dtype = next((p.dtype for p in model.parameters()), np.float32)
    names = {id(m): n for n, m in model.named_modules()}
    leaves = [m for m in model.modules() if not any(True for _ in m.children())]
    x = randn(batch_size, *shape, dtype=dtype, requires_grad=True)  # a graph even if frozen
    tracker = _Tracker(x)
    layers: list[Layer] = []
    conv_calls: list[tuple[nn.Module, tuple[int, ...], tuple[int, ...], int]] = []
    act = [x.numel() // batch_size]
    calls: dict[int, int] = {}

    def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        xin = next((a for a in inputs if isinstance(a, Tensor)), None)
        if xin is None or not isinstance(output, Tensor):
            return
        info, macs = _layer_info(module, tracker.of(xin), xin, output)
        tracker.set(output, info)
        kind = type(module).__name__
        calls[id(module)] = calls.get(id(module), 0) + 1
        lname = names.get(id(module), kind) or kind
        if calls[id(module)] > 1:
            lname = f"{lname}#{calls[id(module)]}"
        params = sum(p.numel() for p in module.parameters(recurse=False))
        layers.append(Layer(lname, kind, list(output.shape[1:]), params, macs, info.rf,
                            info.jump))
        if kind in _WEIGHTED or kind in _POOLS:
            act.append(output.numel() // batch_size)
        if kind == "Conv2d":
            conv_calls.append((module, xin.shape, output.shape, xin.data.dtype.itemsize))

    was_training = model.training
    saved = [(b, b.data.copy()) for b in model.buffers()]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model.train(training)
        with set_grad_enabled(True):
            out = model(x)
        outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,))
                if isinstance(o, Tensor)]
        exclude = {id(p.data) for p in model.parameters()}
        exclude |= {id(_base(p.data)) for p in model.parameters()
                    if isinstance(p.data, np.ndarray)}
        graph_bytes = _graph_bytes(outs, exclude)
        im2col_bytes = _im2col_bytes(conv_calls)
        depth = tracker.of(outs[0]).depth
    finally:
        for h in handles:
            h.remove()
        for b, data in saved:
            b.data[...] = data
        model.train(was_training)
    itemsize = np.dtype(dtype).itemsize
    return Summary(
        model=name or type(model).__name__,
        input_shape=list(shape),
        layers=layers,
        total_params=sum(p.numel() for p in model.parameters()),
        total_macs=sum(lay.macs for lay in layers),
        activation_elements=sum(act),
        activation_bytes=sum(act) * itemsize,
        training_bytes=int(graph_bytes + im2col_bytes),
        depth=depth,
        batch_size=batch_size,
        extra={"graph_bytes": int(graph_bytes), "im2col_bytes": int(im2col_bytes),
               "conv_calls": conv_calls},
    )


def training_bytes_for(s: Summary, batch_size: int) -> int:
    """``s.training_bytes`` scaled to ``batch_size`` images: the graph-held arrays grow with
    the batch, the im2col workspace only up to its bound."""
    per_image = s.extra["graph_bytes"] / s.batch_size
    calls = [(m, (batch_size,) + tuple(xs[1:]), (batch_size,) + tuple(ys[1:]), size)
             for m, xs, ys, size in s.extra["conv_calls"]]
    return int(per_image * batch_size) + _im2col_bytes(calls)


# -- the seed's facts --------------------------------------------------------------------------
@dataclass
class SeedFact:
    """One claim of the seed notes next to what minicnn measures."""

    topic: str
    notes: str
    measured: str
    verdict: str


def _vgg_memory_breakdown(s: Summary) -> tuple[int, int]:
    """(elements counting conv/pool/fc outputs, the same plus a separate ReLU output after
    every convolution and hidden fc layer)."""
    relu = sum(math.prod(lay.output_shape) for lay in s.layers if lay.type == "ReLU")
    return s.activation_elements, s.activation_elements + relu


def seed_facts() -> list[SeedFact]:
    """Measure every number of ``shared/seed/architecture-case-studies.md`` with
    :func:`summary` on the full-size networks (one forward pass each of AlexNet, VGG-16,
    GoogLeNet, ResNet-152 and Wide ResNet-50-2 on one 224x224 image: tens of seconds)."""
    from minicnn import models

    def run(name: str, training: bool = True) -> Summary:
        return summary(models.get(name), models.input_shape(name), name, training=training)

    facts: list[SeedFact] = []
    alex = run("alexnet")
    c1, p1 = alex.layer("features.0"), alex.layer("features.3")
    shape = "x".join(str(v) for v in (c1.output_shape[1], c1.output_shape[2], c1.output_shape[0]))
    pshape = "x".join(str(v) for v in (p1.output_shape[1], p1.output_shape[2], p1.output_shape[0]))
    facts.append(SeedFact(
        "AlexNet shapes", "227x227x3 input; conv1 55x55x96; max pool 27x27x96",
        f"227x227x3 -> conv1 11x11/4 -> {shape} -> overlapping max pool 3x3/2 -> {pshape}",
        "agrees"))
    facts.append(SeedFact(
        "AlexNet layers", "5 conv layers, 2 fc layers of 4096 and a 1000-way output; 8 layers",
        f"{alex.count('Conv2d')} conv + {alex.count('Linear')} fc = {alex.depth} weight "
        f"layers; {alex.total_params:,} parameters (groups=2), {alex.total_macs / 1e6:.0f}M "
        "MACs", "agrees"))

    vgg = run("vgg16")
    fwd, with_relu = _vgg_memory_breakdown(vgg)
    facts.append(SeedFact(
        "VGG-16 parameters", "138 million", f"{vgg.total_params:,}", "agrees"))
    facts.append(SeedFact(
        "VGG-16 depth", "16-19 layers",
        f"VGG-16: {vgg.count('Conv2d')} conv + {vgg.count('Linear')} fc = {vgg.depth} weight "
        "layers (VGG-19: 16 + 3 = 19)", "agrees"))
    facts.append(SeedFact(
        "VGG-16 forward memory", "about 96 MB per image (forward pass)",
        f"{fwd:,} activation elements (input + every conv, pool and fc output) = "
        f"{fwd * 4 / 1e6:.1f} MB in float32; with a separate ReLU output after every layer "
        f"{with_relu:,} = {with_relu * 4 / 1e6:.1f} MB",
        f"corrected: 96 MB is 24M elements x 4 bytes, but VGG-16's layer outputs add up to "
        f"{fwd / 1e6:.1f}M ({fwd * 4 / 1e6:.0f} MB), or {with_relu / 1e6:.1f}M if every ReLU "
        "output is stored apart; no way of counting gives 24M"))
    kept = vgg.training_bytes
    facts.append(SeedFact(
        "VGG-16 training memory", "(not in the notes)",
        f"minicnn keeps {kept / 1e6:.0f} MB per image for backward: graph-held arrays "
        f"{vgg.extra['graph_bytes'] / 1e6:.0f} MB (activations, pooling indices, "
        f"dropout masks) + im2col workspace {vgg.extra['im2col_bytes'] / 1e6:.0f} MB",
        "measured"))
    batch = training_bytes_for(vgg, 250)
    facts.append(SeedFact(
        "VGG-16, 250 images", "2.5 GB of RAM just for storage",
        f"{250 * fwd * 4 / 1e9:.1f} GB of forward activations (250 x {fwd * 4 / 1e6:.1f} MB); "
        f"minicnn keeps {batch / 1e9:.1f} GB for backward in training",
        "corrected: even the notes' 96 MB x 250 is 24 GB, not 2.5 GB"))

    seq = nn.Sequential(*[nn.Conv2d(64, 64, 3, padding=1, bias=False) for _ in range(3)])
    rf = summary(seq, (64, 28, 28), "3x3 stack")
    one = summary(nn.Sequential(nn.Conv2d(64, 64, 7, padding=3, bias=False)), (64, 28, 28),
                  "7x7")
    rfs = ", ".join(str(lay.receptive_field) for lay in rf.layers)
    facts.append(SeedFact(
        "Effective receptive field",
        "two stacked 3x3 convs see 5x5 (first put as 3x3x3x3 = 9x9); three see 7x7 with far "
        "fewer parameters than one 7x7",
        f"receptive fields of 1, 2, 3 stacked 3x3 convs: {rfs}; weights with C=64: three 3x3 "
        f"{rf.total_params:,} = 27C^2, one 7x7 {one.total_params:,} = 49C^2",
        "agrees (5x5, not 9x9)"))

    naive = summary(models.get("inception-naive"), (256, 28, 28), "inception-naive")
    reduced = summary(models.get("inception-reduced"), (256, 28, 28), "inception-reduced")
    out_naive = sum(lay.output_shape[0] for lay in naive.layers
                    if lay.name in ("branch1.0", "branch2.0", "branch3.0", "branch4.0"))
    out_red = sum(reduced.layer(n).output_shape[0]
                  for n in ("branch1.0", "branch2.2", "branch3.2", "branch4.1"))
    facts.append(SeedFact(
        "Naive inception module",
        "28x28x256 in; 128 1x1, 192 3x3, 96 5x5 and full-depth pooling: 28x28x672 out, 854M "
        "operations",
        f"{naive.total_macs:,} multiply-adds; 28x28x{out_naive} out", "agrees"))
    parts = ", ".join(f"{lay.name} {lay.macs / 1e6:.1f}M" for lay in reduced.layers
                      if lay.type == "Conv2d")
    facts.append(SeedFact(
        "Inception with 1x1 reductions", "458M operations",
        f"{reduced.total_macs:,} multiply-adds ({parts}); 28x28x{out_red} out",
        f"corrected: {reduced.total_macs / 1e6:.0f}M, {naive.total_macs / reduced.total_macs:.1f}x "
        "fewer than the naive module"))

    goog = run("googlenet")
    goog_eval = run("googlenet", training=False)
    no_aux = sum(p.numel() for n, p in models.get("googlenet").named_parameters()
                 if not n.startswith("aux"))
    facts.append(SeedFact(
        "GoogLeNet parameters", "only 5 million parameters",
        f"{no_aux:,} at inference; {goog.total_params:,} with the two auxiliary classifiers "
        "used in training",
        f"corrected: {no_aux / 1e6:.1f}M, {alex.total_params / no_aux:.1f}x fewer than AlexNet "
        "(the paper says 12x)"))
    facts.append(SeedFact(
        "GoogLeNet depth and fc layers", "22 layers; removed all fully connected layers",
        f"{goog_eval.depth} weight layers on the longest path; {goog_eval.count('Linear')} fc "
        f"layer at inference (the 1024 -> 1000 classifier), {goog_eval.total_macs / 1e9:.2f}G "
        "MACs", "agrees, except for the classifier"))

    r152 = run("resnet152", training=False)
    facts.append(SeedFact(
        "ResNet-152", "152 layers; no fully connected layers; no dropout",
        f"{r152.depth} weight layers on the longest path; {r152.count('Linear')} fc layer (the "
        f"classifier); {r152.count('Dropout')} dropout; {r152.total_params:,} parameters, "
        f"{r152.total_macs / 1e9:.1f}G MACs", "agrees, except for the classifier"))
    wide = run("wide_resnet50_2", training=False)
    facts.append(SeedFact(
        "Wide ResNet", "a wider 50-layer network outperformed the original (152 layers)",
        f"WRN-50-2: {wide.depth} weight layers, {wide.total_params:,} parameters, "
        f"{wide.total_macs / 1e9:.1f}G MACs against ResNet-152's {r152.total_macs / 1e9:.1f}G",
        "measured: about the same compute at a third of the depth"))
    return facts


def seed_facts_table(facts: Sequence[SeedFact] | None = None) -> str:
    """The README table "what the notes say / what minicnn measures", in Markdown."""
    facts = seed_facts() if facts is None else facts
    lines = ["| topic | what the notes say | what minicnn measures | verdict |",
             "|---|---|---|---|"]
    for f in facts:
        lines.append(f"| {f.topic} | {f.notes} | {f.measured} | {f.verdict} |")
    return "\n".join(lines)
