"""bench/torch_step.py: figure 5's workload, a PyTorch training step on random data, timed.

Contract: trains `--model` (mlp: 64-256-256-10 fully connected; resnet18: ResNet-18 written out
here, no torchvision needed, on 3x224x224 images) with SGD on one batch of random data kept on
the GPU; runs `--warmup` steps, then `--steps` timed steps, each ending with the loss read back
to the host (what a training loop that logs its loss does, and the one sync a step needs).
Prints `RGPU_TORCH_STEP model=<m> ms_per_step=<median ms> steps=<n>`; exits 2 when no CUDA
device is visible. bench/figure5.sh runs it natively and through the shim and prints the ratio.
"""
import argparse
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", choices=["mlp", "resnet18"], default="mlp")
    ap.add_argument("--batch", type=int, default=0, help="default: mlp 512, resnet18 32")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_step: no CUDA device visible", file=sys.stderr)
        return 2
    torch.manual_seed(1234)
    dev = torch.device("cuda")
    if args.model == "mlp":
        batch = args.batch or 512
        model = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                              nn.Linear(256, 10))
        x = torch.randn(batch, 64, device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)
    else:
        batch = args.batch or 32
        model = ResNet18()
        x = torch.randn(batch, 3, 224, 224, device=dev)
        y = torch.randint(0, 1000, (batch,), device=dev)
    model = model.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss.item()  # the step's one sync: the loss comes back to the host

    for _ in range(args.warmup):
        step()
    torch.cuda.synchronize()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(f"device {torch.cuda.get_device_name(0)}")
    print(f"RGPU_TORCH_STEP model={args.model} ms_per_step={statistics.median(times):.4f} "
          f"steps={args.steps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
