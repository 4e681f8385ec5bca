"""minicnn.data: datasets, loaders on generated IDX/CIFAR files (good and corrupt),
augmentation shapes and determinism."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest

from minicnn import data
from minicnn.data import cifar10, digits, mnist, shapes
from minicnn.data.transforms import (
    CenterPad,
    Compose,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    Resize,
    fit_to,
    resize,
)

# -- digits and shapes --------------------------------------------------------------------


@pytest.fixture(scope="module")
def digit_splits() -> data.DataSplits:
    return data.load("digits")


def test_digits_splits(digit_splits: data.DataSplits) -> None:
    s = digit_splits
    assert (s.in_channels, s.image_size, s.num_classes) == (1, (32, 32), 10)
    assert len(s.train) + len(s.val) + len(s.test) == 1797
    assert 350 <= len(s.test) <= 370 and 130 <= len(s.val) <= 160
    for part in (s.train, s.val, s.test):
        assert part.images.dtype == np.float32
        assert 0.0 <= part.images.min() and part.images.max() <= 1.0
        assert np.bincount(part.labels, minlength=10).min() > 0  # stratified
    # the three splits are disjoint: no test image appears in train
    train_keys = {im.tobytes() for im in s.train.images}
    assert not any(im.tobytes() in train_keys for im in s.test.images)
    # the split is fixed
    again = data.load("digits")
    np.testing.assert_array_equal(again.test.labels, s.test.labels)
    np.testing.assert_array_equal(again.train.images, s.train.images)


def test_digits_upsampling_keeps_the_8x8_content() -> None:
    x8, y8 = digits.load_arrays(8)
    x32, y32 = digits.load_arrays(32)
    np.testing.assert_array_equal(y8, y32)
    # each 4x4 block of the 32x32 image follows its 8x8 source pixel (bilinear blurs a little)
    blocks = x32.reshape(-1, 1, 8, 4, 8, 4).mean(axis=(3, 5))
    assert np.corrcoef(blocks.ravel(), x8.ravel())[0, 1] > 0.97
    # the pixels nearest a source centre sit within an 1/8 interpolation step of it
    near = 0.5 * (x32[:, :, 1::4, 1::4] + x32[:, :, 2::4, 2::4])
    assert np.corrcoef(near.ravel(), x8.ravel())[0, 1] > 0.99


def test_shapes_deterministic_and_configurable() -> None:
    x1, y1 = shapes.generate(24, classes=6, size=20, seed=3)
    x2, y2 = shapes.generate(24, classes=6, size=20, seed=3)
    x3, _ = shapes.generate(24, classes=6, size=20, seed=4)
    assert x1.shape == (24, 3, 20, 20) and x1.dtype == np.uint8
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert not np.array_equal(x1, x3)
    assert sorted(np.bincount(y1).tolist()) == [4] * 6
    s = data.load("shapes:n=80,classes=3,size=16,seed=1")
    assert (s.in_channels, s.image_size, s.num_classes) == (3, (16, 16), 3)
    assert s.classes == ["circle", "square", "triangle"]
    assert len(s.train) + len(s.val) == 80 and len(s.test) == 20


def test_shapes_classes_are_separable_by_coverage() -> None:
    # a ring covers much less of its disc than a circle does: the renderer draws what it says
    x, y = shapes.generate(40, classes=6, size=32, seed=0)
    fg = (x.astype(np.float32).max(axis=1) > 100).mean(axis=(1, 2))
    assert fg[y == 5].mean() < fg[y == 0].mean()


@pytest.mark.parametrize(
    "spec, match",
    [
        ("imagenet", "unknown dataset"),
        ("shapes:colour=3", "not one of"),
        ("shapes:n=abc", "not an integer"),
        ("shapes:classes=1", "classes must be"),
        ("mnist", "needs a directory"),
    ],
)
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        data.load(spec)


# -- transforms -----------------------------------------------------------------------------


def test_resize_matches_torch_bilinear(rng: np.random.Generator) -> None:
    torch = pytest.importorskip("torch")
    x = rng.random((2, 3, 8, 11)).astype(np.float32)
    for size in [(32, 32), (5, 7), (8, 20)]:
        ours = resize(x, size)
        ref = torch.nn.functional.interpolate(
            torch.from_numpy(x), size=size, mode="bilinear", align_corners=False
        ).numpy()
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    assert Resize(8)(x[:, :, :8, :8]).shape == (2, 3, 8, 8)


def test_random_crop_is_a_shifted_window(rng: np.random.Generator) -> None:
    x = rng.random((16, 3, 10, 10)).astype(np.float32)
    crop = RandomCrop(10, padding=3)
    out = crop(x, np.random.default_rng(7))
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out, crop(x, np.random.default_rng(7)))
    assert not np.array_equal(out, crop(x, np.random.default_rng(8)))
    # replay the offsets: every image is the window of its zero-padded original
    g = np.random.default_rng(7)
    oy, ox = g.integers(0, 7, size=16), g.integers(0, 7, size=16)
    padded = np.pad(x, ((0, 0), (0, 0), (3, 3), (3, 3)))
    for i in range(16):
        np.testing.assert_array_equal(out[i], padded[i, :, oy[i] : oy[i] + 10, ox[i] : ox[i] + 10])
    assert len({(a, b) for a, b in zip(oy, ox)}) > 1
    # smaller crops without padding
    assert RandomCrop((6, 4))(x, g).shape == (16, 3, 6, 4)
    with pytest.raises(ValueError, match="larger than the padded image"):
        RandomCrop(12)(x, g)
    with pytest.raises(ValueError, match="random generator"):
        crop(x)


def test_horizontal_flip(rng: np.random.Generator) -> None:
    x = rng.random((32, 2, 4, 5)).astype(np.float32)
    np.testing.assert_array_equal(RandomHorizontalFlip(1.0)(x, rng), x[..., ::-1])
    np.testing.assert_array_equal(RandomHorizontalFlip(0.0)(x, rng), x)
    out = RandomHorizontalFlip(0.5)(x, np.random.default_rng(1))
    flipped = np.array([np.array_equal(o, xi[..., ::-1]) for o, xi in zip(out, x)])
    kept = np.array([np.array_equal(o, xi) for o, xi in zip(out, x)])
    assert np.all(flipped ^ kept) and 0 < flipped.sum() < 32
    np.testing.assert_array_equal(out, RandomHorizontalFlip(0.5)(x, np.random.default_rng(1)))


def test_normalize_center_pad_and_fit(rng: np.random.Generator) -> None:
    x = rng.random((4, 2, 5, 5)).astype(np.float32)
    y = Normalize([0.5, 0.25], [2.0, 0.5])(x)
    np.testing.assert_allclose(y[:, 0], (x[:, 0] - 0.5) / 2.0, rtol=1e-6)
    np.testing.assert_allclose(y[:, 1], (x[:, 1] - 0.25) / 0.5, rtol=1e-6)
    with pytest.raises(ValueError, match="channels"):
        Normalize([0.5], [1.0])(x)
    p = CenterPad(7)(x)
    assert p.shape == (4, 2, 7, 7)
    np.testing.assert_array_equal(p[:, :, 1:6, 1:6], x)
    assert p[:, :, 0].sum() == 0 and p[:, :, :, 6].sum() == 0
    assert fit_to(28, 28) is None
    assert isinstance(fit_to(28, 32), CenterPad)
    assert isinstance(fit_to(32, 64), Resize)
    assert isinstance(fit_to(64, 32), Resize)


# -- DataLoader -----------------------------------------------------------------------------


def _toy(n: int = 23) -> data.ArrayDataset:
    images = np.arange(n * 4, dtype=np.uint8).reshape(n, 1, 2, 2)
    return data.ArrayDataset(images, np.arange(n) % 3)


def test_loader_covers_every_sample_once_per_epoch() -> None:
    ds = _toy()
    loader = data.DataLoader(ds, batch_size=5, shuffle=True, seed=11)
    assert len(loader) == 5
    seen_epochs = []
    for _ in range(2):
        firsts = []
        sizes = []
        for x, y in loader:
            assert x.dtype == np.float32 and y.dtype == np.int64
            firsts.extend(np.rint(x.numpy()[:, 0, 0, 0] * 255 / 4).astype(int).tolist())
            sizes.append(x.shape[0])
        assert sizes == [5, 5, 5, 5, 3]
        assert sorted(firsts) == list(range(23))
        seen_epochs.append(firsts)
    assert seen_epochs[0] != seen_epochs[1]  # reshuffled
    again = data.DataLoader(ds, batch_size=5, shuffle=True, seed=11)
    assert [b[1].tolist() for b in again] == [
        (np.array(seen_epochs[0]) % 3).tolist()[i : i + 5] for i in range(0, 23, 5)
    ]


def test_loader_drop_last_and_no_shuffle() -> None:
    ds = _toy()
    loader = data.DataLoader(ds, batch_size=5, drop_last=True)
    assert len(loader) == 4
    ys = np.concatenate([y.numpy() for _, y in loader])
    np.testing.assert_array_equal(ys, np.arange(20) % 3)
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(ds, batch_size=0)


def test_loader_epochs_are_reproducible_and_resumable(rng: np.random.Generator) -> None:
    ds = data.ArrayDataset(rng.random((30, 3, 8, 8)).astype(np.float32), np.arange(30) % 4)
    tf = Compose([RandomCrop(8, padding=2), RandomHorizontalFlip()])
    a = data.DataLoader(ds, 7, shuffle=True, seed=5, transform=tf)
    b = data.DataLoader(ds, 7, shuffle=True, seed=5, transform=tf)
    full = [x.numpy() for x, _ in a.epoch_batches(3)]
    b.set_epoch(3)
    np.testing.assert_array_equal(np.concatenate(full), np.concatenate([x.numpy() for x, _ in b]))
    tail = [x.numpy() for x, _ in b.epoch_batches(3, start=2)]
    for got, want in zip(tail, full[2:]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(b.batch(3, 1)[0].numpy(), full[1])
    other_epoch = np.concatenate([x.numpy() for x, _ in a.epoch_batches(4)])
    assert not np.array_equal(other_epoch, np.concatenate(full))
    assert b.state_dict() == {"epoch": 4}


def test_loaders_fit_normalise_and_augment(digit_splits: data.DataSplits) -> None:
    tr, va, te = data.loaders(digit_splits, 64, image_size=40, seed=0, augment=True)
    x, y = next(iter(tr))
    assert x.shape == (64, 1, 40, 40)
    # augmented: the same images come out shifted differently in another epoch
    first = tr.batch(0, 0)[0].numpy()
    order0, order1 = tr.order(0), tr.order(1)
    pos = [int(np.flatnonzero(order1 == i)[0]) for i in order0[:3]]
    again = np.concatenate([tr.batch(1, p // 64)[0].numpy()[p % 64][None] for p in pos])
    assert not np.array_equal(first[:3], again)
    xv = np.concatenate([b.numpy() for b, _ in va])
    assert xv.shape == (len(digit_splits.val), 1, 40, 40)
    # digits default to no augmentation (their strokes touch the border): same pixels each epoch
    assert not digit_splits.augment
    plain = data.loaders(digit_splits, 64, image_size=40, seed=0)[0]
    np.testing.assert_array_equal(
        plain.batch(1, pos[0] // 64)[0].numpy()[pos[0] % 64], plain.batch(0, 0)[0].numpy()[0])
    # normalised with the training statistics: the train split is about zero-mean, unit-std
    xt = np.concatenate([b.numpy() for b, _ in data.loaders(digit_splits, 256, augment=False)[0]])
    assert abs(xt.mean()) < 1e-3 and abs(xt.std() - 1) < 1e-2
    # validation/test order is fixed
    np.testing.assert_array_equal(np.concatenate([b.numpy() for _, b in te]),
                                  digit_splits.test.labels)


def test_array_dataset_validates() -> None:
    with pytest.raises(ValueError, match="labels must have shape"):
        data.ArrayDataset(np.zeros((3, 1, 2, 2), np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels must lie in"):
        data.ArrayDataset(np.zeros((2, 1, 2, 2), np.float32), np.array([0, 5]), ["a", "b"])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        data.ArrayDataset(np.zeros((2, 2, 2), np.float32), np.zeros(2, np.int64))


# -- MNIST IDX files --------------------------------------------------------------------------


def _idx(arr: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape
    )
    return header + arr.astype(np.uint8).tobytes()


def _write_mnist(root: str, n_train: int = 30, n_test: int = 10, gz: bool = False,
                 seed: int = 0, arrays_out: dict | None = None) -> dict[str, str]:
    g = np.random.default_rng(seed)
    arrays = {
        "train_images": g.integers(0, 256, (n_train, 28, 28)),
        "train_labels": np.arange(n_train) % 10,
        "test_images": g.integers(0, 256, (n_test, 28, 28)),
        "test_labels": np.arange(n_test) % 10,
    }
    paths = {}
    for key, arr in arrays.items():
        raw = _idx(arr)
        path = os.path.join(root, mnist.FILES[key] + (".gz" if gz else ""))
        with open(path, "wb") as f:
            f.write(gzip.compress(raw) if gz else raw)
        paths[key] = path
    if arrays_out is not None:
        arrays_out.update(arrays)
    return paths


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_loads_idx_files(tmp_path, gz: bool) -> None:
    arrays: dict = {}
    _write_mnist(str(tmp_path), gz=gz, arrays_out=arrays)
    s = data.load(f"mnist:{tmp_path}")
    assert (s.in_channels, s.image_size, s.num_classes) == (1, (28, 28), 10)
    assert len(s.train) + len(s.val) == 30 and len(s.test) == 10
    assert s.train.images.dtype == np.uint8
    np.testing.assert_array_equal(s.test.images[:, 0], arrays["test_images"])
    np.testing.assert_array_equal(s.test.labels, arrays["test_labels"])
    # LeNet's padding to 32x32 flows through the loaders
    x, _ = next(iter(data.loaders(s, 8, image_size=32)[0]))
    assert x.shape == (8, 1, 32, 32)


def _corrupt(path: str, fn) -> None:
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(fn(raw))


@pytest.mark.parametrize(
    "key, damage, match",
    [
        ("train_images", lambda r: b"\x00\x00\x08\x01" + r[4:], "bad magic number"),
        ("train_labels", lambda r: b"\x12\x34\x56\x78" + r[4:], "bad magic number"),
        ("test_images", lambda r: r[:-5], "file holds"),
        ("test_labels", lambda r: r + b"\x00", "file holds"),
        ("train_images", lambda r: r[:10], "truncated header"),
        ("train_labels", lambda r: r[:-1] + b"\x0c", r"label 12 at index 29 is outside 0\.\.9"),
        ("test_images", lambda r: b"", "too short"),
    ],
)
def test_mnist_corrupt_files_name_the_file(tmp_path, key: str, damage, match: str) -> None:
    paths = _write_mnist(str(tmp_path))
    _corrupt(paths[key], damage)
    with pytest.raises(mnist.IDXError, match=match) as err:
        data.load(f"mnist:{tmp_path}")
    assert paths[key] in str(err.value)


def test_mnist_count_mismatch_and_bad_gzip(tmp_path) -> None:
    paths = _write_mnist(str(tmp_path))
    with open(paths["test_labels"], "wb") as f:
        f.write(_idx(np.arange(9) % 10))
    with pytest.raises(mnist.IDXError, match="holds 10 images but .* holds 9 labels"):
        data.load(f"mnist:{tmp_path}")
    gz_dir = tmp_path / "gz"
    gz_dir.mkdir()
    gpaths = _write_mnist(str(gz_dir), gz=True)
    _corrupt(gpaths["train_images"], lambda r: r[: len(r) // 2])
    with pytest.raises(mnist.IDXError, match="corrupt or truncated gzip") as err:
        data.load(f"mnist:{gz_dir}")
    assert gpaths["train_images"] in str(err.value)


def test_mnist_missing_files(tmp_path) -> None:
    with pytest.raises(mnist.IDXError, match="not a directory"):
        data.load(f"mnist:{tmp_path / 'nope'}")
    paths = _write_mnist(str(tmp_path))
    os.remove(paths["test_labels"])
    with pytest.raises(mnist.IDXError, match="no t10k-labels-idx1-ubyte"):
        data.load(f"mnist:{tmp_path}")


# -- CIFAR-10 python batches -------------------------------------------------------------------


def _write_cifar(root: str, n: int = 12, seed: int = 0) -> dict[str, str]:
    g = np.random.default_rng(seed)
    paths = {}
    for name in (*cifar10.TRAIN_BATCHES, cifar10.TEST_BATCH):
        d = {
            b"batch_label": name.encode(),
            b"labels": [int(v) for v in g.integers(0, 10, n)],
            b"data": g.integers(0, 256, (n, 3072)).astype(np.uint8),
            b"filenames": [b"x.png"] * n,
        }
        path = os.path.join(root, name)
        with open(path, "wb") as f:
            pickle.dump(d, f, protocol=2)
        paths[name] = path
    return paths


def test_cifar10_loads_batches(tmp_path) -> None:
    inner = tmp_path / "cifar-10-batches-py"
    inner.mkdir()
    paths = _write_cifar(str(inner))
    s = data.load(f"cifar10:{tmp_path}")
    assert (s.in_channels, s.image_size, s.num_classes) == (3, (32, 32), 10)
    assert len(s.train) + len(s.val) == 60 and len(s.test) == 12
    assert s.classes[0] == "airplane"
    with open(paths["test_batch"], "rb") as f:
        d = pickle.load(f)
    # channel planes, rows first: pixel (c, i, j) is data[c*1024 + i*32 + j]
    np.testing.assert_array_equal(s.test.images[3, 1, 5, 7], d[b"data"][3, 1024 + 5 * 32 + 7])
    np.testing.assert_array_equal(s.test.labels, d[b"labels"])
    assert s.flip  # CIFAR's classes are mirror-symmetric


def _rewrite(path: str, **fields) -> None:
    with open(path, "rb") as f:
        d = pickle.load(f)
    d.update({k.encode(): v for k, v in fields.items()})
    with open(path, "wb") as f:
        pickle.dump(d, f, protocol=2)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize(
    "damage, match",
    [
        (lambda p: _rewrite(p, data=np.zeros((12, 3000), np.uint8)), r"shape \(n, 3072\)"),
        (lambda p: _rewrite(p, data=np.zeros((12, 3072), np.float32)), "must be uint8"),
        (lambda p: _rewrite(p, labels=[10] + [0] * 11), "label 10 at index 0 is outside"),
        (lambda p: _rewrite(p, labels=[0] * 11), "must be 12 integers"),
        (lambda p: _corrupt(p, lambda r: r[: len(r) // 3]), "not a CIFAR-10 python batch"),
        (lambda p: _corrupt(p, lambda r: b"garbage" * 10), "not a CIFAR-10 python batch"),
        (lambda p: _corrupt(p, lambda r: pickle.dumps([1, 2])), "expected a pickled dict"),
        (lambda p: _corrupt(p, lambda r: pickle.dumps({"x": 1})), "no 'data' and 'labels'"),
        (lambda p: _corrupt(p, lambda r: pickle.dumps({"data": _Evil()})), "refusing to load"),
    ],
)
def test_cifar10_corrupt_batches_name_the_file(tmp_path, damage, match: str) -> None:
    paths = _write_cifar(str(tmp_path))
    damage(paths["data_batch_3"])
    with pytest.raises(cifar10.CIFARError, match=match) as err:
        data.load(f"cifar10:{tmp_path}")
    assert paths["data_batch_3"] in str(err.value)


def test_cifar10_missing_batch(tmp_path) -> None:
    paths = _write_cifar(str(tmp_path))
    os.remove(paths["data_batch_5"])
    with pytest.raises(cifar10.CIFARError, match="lacks data_batch_5"):
        data.load(f"cifar10:{tmp_path}")
