"""Dataset specs, as the command line writes them: ``digits``, ``shapes[:k=v,...]``,
``mnist:DIR``, ``cifar10:DIR``."""

from __future__ import annotations

from minicnn.data.dataset import DataSplits

NAMES = ("digits", "shapes", "mnist", "cifar10")

_SHAPES_KEYS = {"n": int, "classes": int, "size": int, "seed": int}


def _options(name: str, text: str, keys: dict[str, type]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in keys:
            raise ValueError(
                f"dataset {name!r}: option {item!r} is not one of "
                f"{', '.join(k + '=INT' for k in keys)}"
            )
        try:
            out[key] = keys[key](value)
        except ValueError as e:
            raise ValueError(f"dataset {name!r}: {key}={value!r} is not an integer") from e
    return out


def load(spec: str, val_fraction: float = 0.1) -> DataSplits:
    """The splits named by ``spec``.

    ``digits`` (the embedded default, also ``digits:size=N``); ``shapes`` with optional
    ``n=``, ``classes=``, ``size=``, ``seed=`` (``shapes:classes=6,size=64``); ``mnist:DIR``
    and ``cifar10:DIR`` for the real files in ``DIR``.
    """
    name, _, rest = spec.partition(":")
    name = name.strip().lower()
    if name == "digits":
        from minicnn.data import digits

        return digits.load(val_fraction=val_fraction, **_options(name, rest, {"size": int}))
    if name == "shapes":
        from minicnn.data import shapes

        return shapes.load(val_fraction=val_fraction, **_options(name, rest, _SHAPES_KEYS))
    if name in ("mnist", "cifar10"):
        if not rest:
            raise ValueError(f"dataset {name!r} needs a directory: --dataset {name}:DIR")
        from minicnn.data import cifar10, mnist

        mod = mnist if name == "mnist" else cifar10
        return mod.load(rest, val_fraction=val_fraction)
    raise ValueError(
        f"unknown dataset {spec!r}; expected digits, shapes[:k=v,...], mnist:DIR or cifar10:DIR"
    )
