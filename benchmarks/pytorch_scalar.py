"""PyTorch with 0-dim tensors on the scalar "chain" workload (issue 2), for
context next to bench_scalar: same leaves and terms, fewer rounds (PyTorch
takes microseconds per operation). Run by `cmake --build build --target
run_benchmarks` when /usr/bin/python3 can import torch.

Prints ns per operation for record + backward, the same f on Python floats,
and their ratio. f and every gradient are checked against the plain-float
value and the hand derivative first; a mismatch exits with an error.
"""
import math
import statistics
import sys
import time

import torch

N = 1000
ROUNDS = 5  # bench_scalar uses 250; 4 operations a term either way
OPS = 4 * N * ROUNDS
REPEATS = 5


def leaf_values():
    return [((i * 7919) % N) / N - 0.5 for i in range(N)]


def chain(x, tanh):
    f = 0.0
    for _ in range(ROUNDS):
        for i in range(N):
            f = f + tanh(x[i] * x[(i + 1) % N] + 0.5)
    return f


def torch_leaves(values):
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]


def torch_run(x):
    for leaf in x:
        leaf.grad = None
    f = chain(x, torch.tanh)
    f.backward()
    return f


def median_seconds(fn):
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    torch.set_num_threads(1)
    values = leaf_values()

    want_f = chain(values, math.tanh)
    x = torch_leaves(values)
    f = torch_run(x)
    if abs(f.item() - want_f) > 1e-9 * abs(want_f):
        sys.exit(f"pytorch_scalar: WRONG f {f.item()!r}, expected {want_f!r}")
    def outer(i):  # d term_i / d (x_i * x_{i+1})
        return 1.0 - math.tanh(values[i] * values[(i + 1) % N] + 0.5) ** 2

    for k in range(N):
        prev, nxt = (k - 1) % N, (k + 1) % N
        want = ROUNDS * (outer(k) * values[nxt] + outer(prev) * values[prev])
        if abs(x[k].grad.item() - want) > 1e-9 * max(1.0, abs(want)):
            sys.exit(f"pytorch_scalar: WRONG df/dx[{k}] {x[k].grad.item()!r}, expected {want!r}")

    torch_s = median_seconds(lambda: torch_run(x))
    plain_s = median_seconds(lambda: chain(values, math.tanh))
    print(f"PyTorch {torch.__version__} 0-dim tensors, chain with {ROUNDS} rounds ({OPS} operations), "
          f"median of {REPEATS}, results verified:")
    print(f"  record+backward {torch_s / OPS * 1e9:9.0f} ns/op")
    print(f"  Python floats   {plain_s / OPS * 1e9:9.0f} ns/op (f only)")
    print(f"  ratio           {torch_s / plain_s:9.1f}x")


if __name__ == "__main__":
    main()
