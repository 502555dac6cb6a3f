"""tests/gpu/torch_mlp.py: a small PyTorch MLP training loop with fixed seeds, for comparing a
native GPU run against the same run through the rgpu shim (tests/gpu/run_gpu_suite.sh).

Contract: deterministic for a given device, PyTorch build and driver: data and weights are made
on the CPU from fixed seeds, TF32 is off, deterministic algorithms are on. Prints one line
`RGPU_TORCH_MLP loss_after_<steps>=<loss>` (and the per-step losses with --verbose); exits 0
only if the loss is finite and dropped below the starting loss, 2 if no CUDA device is visible.
"""
import argparse
import math
import os
import sys

# Must be set before cuBLAS initialises for deterministic GEMMs.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()

    if not torch.cuda.is_available():
        print("torch_mlp: no CUDA device visible", file=sys.stderr)
        return 2
    torch.manual_seed(args.seed)
    torch.cuda.manual_seed_all(args.seed)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(512, 64, generator=gen)
    w_true = torch.randn(64, 10, generator=gen)
    y = (x @ w_true).argmax(dim=1)
    model = nn.Sequential(
        nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
    )
    dev = torch.device("cuda")
    model = model.to(dev)
    x, y = x.to(dev), y.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)

    first = None
    loss_value = float("nan")
    for step in range(args.steps):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        loss_value = loss.item()
        if first is None:
            first = loss_value
        if args.verbose:
            print(f"step {step + 1} loss {loss_value:.10e}")
    print(f"device {torch.cuda.get_device_name(0)}")
    print(f"RGPU_TORCH_MLP loss_after_{args.steps}={loss_value:.10e}")
    if not math.isfinite(loss_value) or first is None or not loss_value < first:
        print(f"torch_mlp: loss did not decrease ({first} -> {loss_value})", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
