#!/usr/bin/env python
"""Conv, pooling and LRN kernels against the machine's limits and PyTorch.

The same benchmark as ``minicnn bench conv`` (the code lives in ``minicnn/bench``, so the
installed CLI has it too). Full run: about 7 minutes on 2 idle cores::

    python benchmarks/bench_conv.py --plot
    python benchmarks/bench_conv.py --quick          # seconds: checks that it runs
    python benchmarks/bench_conv.py --shapes vgg16,resnet50 --repeats 15
    python benchmarks/bench_conv.py --kernel benchmarks/examples/my_conv.py:my_conv2d
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minicnn.bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(default_out=Path(__file__).resolve().parent / "results"))
