#!/usr/bin/env python3
"""PyTorch side of benchmarks/bench_hessian.cpp (issue 12): the dense Hessian
of f(x) = log sum_i exp((A x)_i), n = 100, by torch.autograd.functional.hessian,
on one thread, in float64.

    /usr/bin/python3 benchmarks/pytorch_hessian.py            # readable
    /usr/bin/python3 benchmarks/pytorch_hessian.py --machine  # for bench_hessian

A_ij = ((7i + 13j + 3ij) mod 101) / 101 - 0.5 and x_j = ((7919 j) mod 100) / 100
- 0.5, the same numbers as bench_hessian.cpp. The Hessian is checked against
the closed form A^T (diag(p) - p p^T) A, p = softmax(A x), before anything is
timed; a mismatch exits with an error. Timing: 3 warm-up calls, then the
median over 5 repetitions of the mean CPU time of one call (the process's,
time.process_time) in a batch lasting at least 0.5 s, as Google Benchmark
measures bench_hessian's side (CPU time, so that other jobs on a shared
machine inflate neither side). With --machine it
prints VERSION, RESULT <name> <ms> lines and HESSIAN followed by the n * n
entries (row-major), which bench_hessian compares with its own closed form.
"""
import argparse
import statistics
import sys
import time

import torch

N = 100


def problem():
    a = torch.tensor([[((7 * i + 13 * j + 3 * i * j) % 101) / 101 - 0.5 for j in range(N)] for i in range(N)],
                     dtype=torch.float64)
    x = torch.tensor([((7919 * j) % N) / N - 0.5 for j in range(N)], dtype=torch.float64)
    return a, x


def closed_form(a, x):
    p = torch.softmax(a @ x, 0)
    return a.T @ (torch.diag(p) - torch.outer(p, p)) @ a


def median_ms(fn, repetitions=5, min_seconds=0.5):
    for _ in range(3):
        fn()
    start = time.process_time()
    fn()
    one = max(time.process_time() - start, 1e-7)
    calls = max(1, int(min_seconds / one))
    samples = []
    for _ in range(repetitions):
        start = time.process_time()
        for _ in range(calls):
            fn()
        samples.append((time.process_time() - start) / calls)
    return statistics.median(samples) * 1e3


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machine", action="store_true", help="lines for bench_hessian")
    args = parser.parse_args()
    torch.set_num_threads(1)
    a, x = problem()

    def f(v):
        return torch.logsumexp(a @ v, 0)

    want = closed_form(a, x)
    scale = want.abs().max().item()
    timings = {}
    hessians = {}
    for name, vectorize in (("hessian", False), ("hessian_vectorized", True)):
        try:
            h = torch.autograd.functional.hessian(f, x, vectorize=vectorize)
        except Exception as e:  # vectorize=True is experimental in torch 1.13
            print(f"pytorch_hessian: {name} unavailable: {e}", file=sys.stderr)
            continue
        gap = (h - want).abs().max().item() / scale
        if not gap < 1e-12:
            sys.exit(f"pytorch_hessian: WRONG {name}: largest gap to the closed form {gap:.3g}")
        hessians[name] = h
        timings[name] = median_ms(lambda: torch.autograd.functional.hessian(f, x, vectorize=vectorize))

    if args.machine:
        print(f"VERSION {torch.__version__}")
        for name, ms in timings.items():
            print(f"RESULT {name} {ms:.6f}")
        print("HESSIAN " + " ".join(repr(e) for e in hessians["hessian"].flatten().tolist()))
    else:
        print(f"PyTorch {torch.__version__}, 1 thread: dense Hessian of log sum exp(A x), n = {N}, "
              f"checked against the closed form, median of 5:")
        for name, ms in timings.items():
            print(f"  {name:<20} {ms:8.3f} ms")


if __name__ == "__main__":
    main()
