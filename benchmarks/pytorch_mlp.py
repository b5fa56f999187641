#!/usr/bin/env python3
"""PyTorch side of benchmarks/bench_mlp.cpp (issue 3): the same MLP training
steps, timed the same way, so the two can be printed side by side.

    /usr/bin/python3 benchmarks/pytorch_mlp.py --threads 1

Each step: forward, loss, zero_grad, backward, SGD update. Models:
  small   64-128-64-10,    batch 64,  float32, cross-entropy
  medium  784-512-256-10,  batch 128, float32, cross-entropy
  large   1024-2048-2048-10, batch 256, float32, cross-entropy
  demo    micrograd's demo model 2-16-16-1 on 100 moons points, full batch,
          float64, mean hinge loss + 1e-4 * sum of squared parameters
Hidden layers use ReLU, the last layer is linear. The inputs need no
gradient (as in tapegrad's benchmark). Prints one line per model:
  RESULT <model> <threads> <ms per step>

Set OMP_WAIT_POLICY=passive (and OPENBLAS_NUM_THREADS to the thread count)
in the environment before starting Python: bench_mlp does so. Otherwise
PyTorch's spinning OpenMP threads and OpenBLAS's threads compete for the
cores on a 2-core machine.
"""
import argparse
import math
import time

import torch

MODELS = {
    "small": ([64, 128, 64, 10], 64),
    "medium": ([784, 512, 256, 10], 128),
    "large": ([1024, 2048, 2048, 10], 256),
}


def mlp(sizes, dtype):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1], dtype=dtype))
        if i + 2 < len(sizes):
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def moons(n=100):
    """Two interleaved half circles without random noise (the same formula as
    bench_mlp.cpp), labels -1 / +1."""
    xs, ys = [], []
    half = n // 2
    for i in range(n):
        outer = i < half
        k = i if outer else i - half
        t = math.pi * k / (half - 1)
        if outer:
            x, y = math.cos(t), math.sin(t)
        else:
            x, y = 1 - math.cos(t), 0.5 - math.sin(t)
        xs.append([x + 0.1 * math.sin(7.0 * i), y + 0.1 * math.cos(5.0 * i)])
        ys.append(-1.0 if outer else 1.0)
    return xs, ys


def time_per_step(step, min_batch_seconds=0.1, repetitions=7):
    """Best over `repetitions` batches of the mean time of one step (as
    bench_mlp.cpp: interference from other jobs only ever adds time)."""
    for _ in range(3):
        step()
    start = time.perf_counter()
    step()
    one = max(time.perf_counter() - start, 1e-7)
    steps = max(1, int(min_batch_seconds / one))
    samples = []
    for _ in range(repetitions):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        samples.append((time.perf_counter() - start) / steps)
    return min(samples)


def classifier_step(sizes, batch):
    torch.manual_seed(0)
    model = mlp(sizes, torch.float32)
    x = torch.randn(batch, sizes[0])
    labels = torch.randint(0, sizes[-1], (batch,))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        loss = torch.nn.functional.cross_entropy(model(x), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def demo_step():
    torch.manual_seed(0)
    model = mlp([2, 16, 16, 1], torch.float64)
    xs, ys = moons()
    x = torch.tensor(xs, dtype=torch.float64)
    y = torch.tensor(ys, dtype=torch.float64).reshape(-1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    params = list(model.parameters())

    def step():
        scores = model(x)
        data_loss = torch.relu(1 - y * scores).mean()
        reg_loss = 1e-4 * sum((p * p).sum() for p in params)
        loss = data_loss + reg_loss
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--models", default="small,medium,large,demo")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter repetitions")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch_seconds, reps = (0.02, 3) if args.quick else (0.1, 7)
    for name in args.models.split(","):
        step = demo_step() if name == "demo" else classifier_step(*MODELS[name])
        seconds = time_per_step(step, batch_seconds, reps)
        print(f"RESULT {name} {args.threads} {seconds * 1e3:.6f}", flush=True)


if __name__ == "__main__":
    main()
