// Derivatives of derivatives (issue 12): what a Hessian-vector product costs
// against a gradient, and a dense Hessian against ADOL-C and PyTorch.
//
// 1. Hessian-vector product ÷ gradient, one run, same workloads:
//    chain  bench_scalar's workload: 1000 Value leaves
//           x_i = ((i * 7919) mod 1000) / 1000 - 0.5, f = 250 rounds of
//           f = f + tanh(x_i * x_{(i+1) mod n} + 0.5) (10^6 operations);
//    mlp    bench_mlp's small model 64-128-64-10 (ReLU), batch 64,
//           cross-entropy, in float64 (ag::hvp's tensor form is float64).
//    gradient = record f + backward(); HVP = ag::hvp: fresh leaves, record
//    f, the gradient recorded as nodes (ag::create_graph), one reverse sweep
//    over it seeded with v. Also timed: the HVP written out by hand
//    (grad(f, x, create_graph), then grad(g · v, x)) and the parts (record
//    f alone; record f and the gradient graph), so the difference of
//    consecutive rows says where the time goes. With ADOL-C, its gradient()
//    and hess_vec() on the chain, each after a new trace_on/trace_off.
// 2. Dense Hessian of f(x) = log sum_i exp((A x)_i), n = 100,
//    A_ij = ((7i + 13j + 3ij) mod 101) / 101 - 0.5, x_j = ((7919 j) mod 100)
//    / 100 - 0.5 (so PyTorch gets the same numbers without a file):
//    tapegrad's ag::hessian on Values (scalar tape, like ADOL-C) and on a
//    tensor (log(sum(exp(matmul(A, x)))), like PyTorch), ADOL-C's hessian()
//    driver after a new trace, and torch.autograd.functional.hessian (run
//    as /usr/bin/python3 pytorch_hessian.py --machine from this program).
//
// Before any timing every result is checked: the chain's f, gradient and
// H v against the hand formulas; the MLP's gradient and H v against central
// differences along v; all Hessians against the closed form
// Aᵀ (diag(p) - p pᵀ) A, p = softmax(A x), PyTorch's entry by entry. A
// wrong result stops the program before any figure is printed.
//
// Timings: Google Benchmark, CPU time, median of 5 repetitions; one thread
// everywhere (OpenBLAS and PyTorch set to 1). Run from the build tree:
//     cmake --build build --target run_benchmarks      (or build/benchmarks/bench_hessian)
//     bench_hessian --no-pytorch                       (skip PyTorch)
#include <autograd/autograd.hpp>

#include <benchmark/benchmark.h>
#include <cblas.h>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#ifdef TAPEGRAD_HAVE_ADOLC
#include <adolc/adolc.h>
#endif

namespace {

constexpr int kRepetitions = 5;

[[noreturn]] void fail(const std::string& what) {
    fmt::print(stderr, "bench_hessian: WRONG RESULT, no figures reported: {}\n", what);
    std::exit(1);
}

// |got - want| <= tol * max(1, |want|) for every entry.
void check_close(const std::string& what, const std::vector<double>& got, const std::vector<double>& want, double tol) {
    if (got.size() != want.size()) fail(fmt::format("{}: {} entries, expected {}", what, got.size(), want.size()));
    for (std::size_t i = 0; i < got.size(); ++i)
        if (!(std::fabs(got[i] - want[i]) <= tol * std::max(1.0, std::fabs(want[i]))))
            fail(fmt::format("{}[{}] = {:.17g}, expected {:.17g} (tolerance {:g})", what, i, got[i], want[i], tol));
}

double norm(const std::vector<double>& v) {
    double s = 0;
    for (double e : v) s += e * e;
    return std::sqrt(s);
}

// |got - want| / |want| as vectors.
double relative_gap(const std::vector<double>& got, const std::vector<double>& want) {
    std::vector<double> d(got.size());
    for (std::size_t i = 0; i < got.size(); ++i) d[i] = got[i] - want[i];
    return norm(d) / norm(want);
}

#ifdef TAPEGRAD_HAVE_ADOLC
// ADOL-C's buffer sizes (entries), given per tape to trace_on: the smallest
// powers of two that keep each tape, and the Taylor stack of its sweeps, in
// memory (checked: a spill stops the program). Not CMake's .adolcrc, which
// sets 16 Mi for every buffer (for bench_scalar): ADOL-C allocates its
// Taylor buffer at every sweep, glibc maps a block of 32 MiB or more afresh
// each time, and ADOL-C then pays page faults over all of it at every call
// (the dense Hessian took 150 ms instead of 20 ms on this machine).
struct AdolcBuffers {
    uint operations, locations, values, taylors;
};
void adolc_trace_on(short tag, const AdolcBuffers& b) {
    trace_on(tag, 0, b.operations, b.locations, b.values, b.taylors);
}
// Stops unless the last trace of `tag` stayed in memory; prints its sizes.
// (A Taylor stack that spills leaves an ADOLC-Taylors file: checked at the end.)
void check_adolc_tape(short tag, const std::string& what) {
    size_t stats[STAT_SIZE];
    tapestats(tag, stats);
    fmt::print("ADOL-C {} tape: {} operations, {} locations, {} values\n", what, stats[NUM_OPERATIONS],
               stats[NUM_LOCATIONS], stats[NUM_VALUES]);
    if (stats[OP_FILE_ACCESS] || stats[LOC_FILE_ACCESS] || stats[VAL_FILE_ACCESS])
        fail(fmt::format("ADOL-C's {} tape went to files: raise its buffers", what));
}
#endif

// ------------------------------------------------------------- chain ---

namespace chain {

constexpr int kLeaves = 1000;
constexpr int kRounds = 250;
constexpr double kF = 123548.10650067689;  // bench_scalar's value

std::vector<double> point() {
    std::vector<double> x(kLeaves);
    for (int i = 0; i < kLeaves; ++i) x[i] = static_cast<double>((i * 7919) % kLeaves) / kLeaves - 0.5;
    return x;
}
std::vector<double> direction() {
    std::vector<double> v(kLeaves);
    for (int i = 0; i < kLeaves; ++i) v[i] = static_cast<double>((i * 37) % 101) / 101 - 0.5;
    return v;
}

template <class Scalar>
Scalar f(const std::vector<Scalar>& x) {
    using std::tanh;
    Scalar s = 0.0;
    for (int round = 0; round < kRounds; ++round)
        for (int i = 0; i < kLeaves; ++i) s = s + tanh(x[i] * x[i + 1 == kLeaves ? 0 : i + 1] + 0.5);
    return s;
}
ag::Value f_values(const std::vector<ag::Value>& x) { return f(x); }

// By hand, with u_i = x_i x_{i+1} + 0.5, t_i = tanh(u_i), t' = 1 - t^2,
// t'' = -2 t t': df/dx_k = R (t'_k x_{k+1} + t'_{k-1} x_{k-1}), and H is
// tridiagonal (cyclic): H_kk = R (t''_k x_{k+1}^2 + t''_{k-1} x_{k-1}^2),
// H_{k,k+1} = R (t''_k x_k x_{k+1} + t'_k).
struct Hand {
    std::vector<double> gradient, hvp;
};
Hand by_hand(const std::vector<double>& x, const std::vector<double>& v) {
    const int n = kLeaves;
    std::vector<double> d1(n), d2(n);
    for (int i = 0; i < n; ++i) {
        const double t = std::tanh(x[i] * x[(i + 1) % n] + 0.5);
        d1[i] = 1 - t * t;
        d2[i] = -2 * t * d1[i];
    }
    Hand h{std::vector<double>(n), std::vector<double>(n)};
    for (int k = 0; k < n; ++k) {
        const int prev = (k + n - 1) % n, next = (k + 1) % n;
        h.gradient[k] = kRounds * (d1[k] * x[next] + d1[prev] * x[prev]);
        const double diag = d2[k] * x[next] * x[next] + d2[prev] * x[prev] * x[prev];
        const double up = d2[k] * x[k] * x[next] + d1[k];
        const double down = d2[prev] * x[prev] * x[k] + d1[prev];
        h.hvp[k] = kRounds * (diag * v[k] + up * v[next] + down * v[prev]);
    }
    return h;
}

// Made once, before any Scope, so they outlive every recorded graph.
const std::vector<ag::Value>& leaves() {
    static const std::vector<ag::Value> x = [] {
        std::vector<ag::Value> l;
        for (double p : point()) l.emplace_back(p);
        return l;
    }();
    return x;
}

std::vector<double> hvp_written_out(const std::vector<ag::Value>& x, const std::vector<double>& v) {
    const ag::Value y = f(x);
    const std::vector<ag::Value> g = ag::grad(y, x, ag::create_graph);
    ag::Value gv = g[0] * v[0];
    for (int i = 1; i < kLeaves; ++i) gv = gv + g[i] * v[i];
    return ag::grad(gv, x);
}

// Nodes recorded by f, and by its gradient graph after it.
struct NodeCounts {
    std::uint32_t f = 0, gradient_graph = 0;
};
NodeCounts node_counts() {
    ag::Scope scope;
    const std::uint32_t start = ag::tape().size();
    const ag::Value y = f(leaves());
    const std::uint32_t after_f = ag::tape().size();
    benchmark::DoNotOptimize(ag::grad(y, leaves(), ag::create_graph));
    return {after_f - start, ag::tape().size() - after_f};
}

void verify() {
    const std::vector<double> x = point(), v = direction();
    const Hand want = by_hand(x, v);
    {
        ag::Scope scope;
        const auto& leaf = leaves();
        const ag::Value y = f(leaf);
        if (std::fabs(y.data() - kF) > 1e-12 * kF)
            fail(fmt::format("chain f = {:.17g}, expected {:.17g}", y.data(), kF));
        y.backward();
        std::vector<double> g;
        for (const auto& l : leaf) g.push_back(l.grad());
        ag::zero_grad(leaf);
        check_close("chain gradient (backward)", g, want.gradient, 1e-9);
    }
    check_close("chain ag::hvp", ag::hvp(f_values, x, v), want.hvp, 1e-9);
    {
        ag::Scope scope;
        check_close("chain H v written out", hvp_written_out(leaves(), v), want.hvp, 1e-9);
    }
}

}  // namespace chain

// --------------------------------------------------------------- mlp ---

namespace mlp {

const std::vector<std::int64_t> kSizes = {64, 128, 64, 10};
constexpr std::int64_t kBatch = 64;

struct Setup {
    std::vector<ag::Tensor> params;  // W0, b0, W1, b1, W2, b2; W [in, out]
    std::vector<ag::Tensor> v;       // the direction, shaped like params
    ag::Tensor x;
    std::vector<std::int64_t> labels;
};

// Made once, outside any Scope; weights uniform in ±1/sqrt(fan-in) as in bench_mlp.
const Setup& setup() {
    static const Setup s = [] {
        Setup m;
        ag::Rng rng(1);
        for (std::size_t l = 0; l + 1 < kSizes.size(); ++l) {
            const double bound = 1 / std::sqrt(static_cast<double>(kSizes[l]));
            m.params.push_back(ag::Tensor::rand({kSizes[l], kSizes[l + 1]}, rng, -bound, bound));
            m.params.push_back(ag::Tensor::rand({kSizes[l + 1]}, rng, -bound, bound));
        }
        for (const auto& p : m.params) m.v.push_back(ag::Tensor::rand(p.shape(), rng, -1, 1).set_requires_grad(false));
        m.x = ag::Tensor::randn({kBatch, kSizes.front()}, rng).set_requires_grad(false);
        for (std::int64_t i = 0; i < kBatch; ++i)
            m.labels.push_back(static_cast<std::int64_t>(rng.below(static_cast<std::uint64_t>(kSizes.back()))));
        return m;
    }();
    return s;
}

ag::Tensor loss(const std::vector<ag::Tensor>& p) {
    const Setup& s = setup();
    ag::Tensor h = s.x;
    for (std::size_t l = 0; l < p.size(); l += 2) {
        h = ag::linear(h, p[l], p[l + 1]);
        if (l + 2 < p.size()) h = ag::relu(h);
    }
    return ag::cross_entropy(h, s.labels);
}

std::vector<double> flat(const std::vector<ag::Tensor>& ts) {
    std::vector<double> out;
    for (const auto& t : ts) out.insert(out.end(), t.data().begin(), t.data().end());
    return out;
}

// The parameters moved by eps * v, as new leaves (inside the caller's Scope).
std::vector<ag::Tensor> moved(double eps) {
    const Setup& s = setup();
    std::vector<ag::Tensor> p;
    for (std::size_t k = 0; k < s.params.size(); ++k) {
        std::vector<double> d = s.params[k].to_vector();
        const auto dv = s.v[k].data();
        for (std::size_t i = 0; i < d.size(); ++i) d[i] += eps * dv[i];
        p.push_back(ag::Tensor(s.params[k].shape(), std::span<const double>(d)));
    }
    return p;
}

std::vector<double> gradient_at(double eps) {
    ag::Scope scope;
    const std::vector<ag::Tensor> p = moved(eps);
    return flat(ag::grad(loss(p), p));
}

std::vector<double> hvp_written_out(const std::vector<ag::Tensor>& params) {
    const Setup& s = setup();
    const std::vector<ag::Tensor> g = ag::grad(loss(params), params, ag::create_graph);
    ag::Tensor gv = ag::sum(g[0] * s.v[0]);
    for (std::size_t k = 1; k < g.size(); ++k) gv = gv + ag::sum(g[k] * s.v[k]);
    return flat(ag::grad(gv, params));
}

void verify() {
    const Setup& s = setup();
    const double eps = 1e-6;
    // The gradient from backward(), along v, against the difference of the loss.
    std::vector<double> g;
    {
        ag::Scope scope;
        loss(s.params).backward();
        for (const auto& p : s.params) {
            g.insert(g.end(), p.grad().begin(), p.grad().end());
            p.zero_grad();
        }
    }
    double lp = 0, lm = 0;
    {
        ag::Scope scope;
        lp = loss(moved(eps)).item();
        lm = loss(moved(-eps)).item();
    }
    const std::vector<double> v = flat(s.v);
    double gv = 0;
    for (std::size_t i = 0; i < g.size(); ++i) gv += g[i] * v[i];
    if (!(std::fabs(gv - (lp - lm) / (2 * eps)) <= 1e-6 * std::fabs(gv)))
        fail(fmt::format("mlp gradient along v = {:.12g}, difference of the loss {:.12g}", gv, (lp - lm) / (2 * eps)));
    // H v against the difference of the gradient along v.
    const std::vector<double> up = gradient_at(eps), down = gradient_at(-eps);
    std::vector<double> fd(up.size());
    for (std::size_t i = 0; i < fd.size(); ++i) fd[i] = (up[i] - down[i]) / (2 * eps);
    std::vector<double> hv;
    {
        ag::Scope scope;
        hv = flat(ag::hvp(loss, s.params, s.v));
    }
    if (const double gap = relative_gap(hv, fd); !(gap < 1e-6))
        fail(fmt::format("mlp ag::hvp against differences of the gradient: relative gap {:.3g}", gap));
    std::vector<double> written;
    {
        ag::Scope scope;
        written = hvp_written_out(s.params);
    }
    if (const double gap = relative_gap(written, hv); !(gap < 1e-12))
        fail(fmt::format("mlp H v written out against ag::hvp: relative gap {:.3g}", gap));
}

}  // namespace mlp

// ------------------------------------------------------ dense Hessian ---

namespace dense {

constexpr int kN = 100;

double a(int i, int j) { return static_cast<double>((7 * i + 13 * j + 3 * i * j) % 101) / 101 - 0.5; }
std::vector<double> point() {
    std::vector<double> x(kN);
    for (int j = 0; j < kN; ++j) x[j] = static_cast<double>((7919 * j) % kN) / kN - 0.5;
    return x;
}

// log sum_i exp((A x)_i), for double, ag::Value and adouble.
template <class Scalar>
Scalar f(const std::vector<Scalar>& x) {
    using std::exp;
    using std::log;
    Scalar total = 0.0;
    for (int i = 0; i < kN; ++i) {
        Scalar y = x[0] * a(i, 0);
        for (int j = 1; j < kN; ++j) y = y + x[j] * a(i, j);
        total = total + exp(y);
    }
    return log(total);
}
ag::Value f_values(const std::vector<ag::Value>& x) { return f(x); }

// The tensor form; A made once, a constant.
const ag::Tensor& a_tensor() {
    static const ag::Tensor t = [] {
        std::vector<double> e;
        for (int i = 0; i < kN; ++i)
            for (int j = 0; j < kN; ++j) e.push_back(a(i, j));
        return ag::Tensor({kN, kN}, std::span<const double>(e)).set_requires_grad(false);
    }();
    return t;
}
const std::vector<ag::Tensor>& x_tensor() {
    static const std::vector<ag::Tensor> x = [] {
        const std::vector<double> p = point();
        return std::vector<ag::Tensor>{ag::Tensor({kN, 1}, std::span<const double>(p))};
    }();
    return x;
}
ag::Tensor f_tensor(const std::vector<ag::Tensor>& x) {
    return ag::log(ag::sum(ag::exp(ag::matmul(a_tensor(), x[0]))));
}

// H = Aᵀ (diag(p) - p pᵀ) A, p = softmax(A x), row-major.
std::vector<double> closed_form() {
    const std::vector<double> x = point();
    std::vector<double> y(kN), p(kN);
    for (int i = 0; i < kN; ++i)
        for (int j = 0; j < kN; ++j) y[i] += a(i, j) * x[j];
    const double m = *std::max_element(y.begin(), y.end());
    double z = 0;
    for (int i = 0; i < kN; ++i) z += p[i] = std::exp(y[i] - m);
    for (double& e : p) e /= z;
    std::vector<double> pa(kN);  // (pᵀ A)_j
    for (int j = 0; j < kN; ++j)
        for (int i = 0; i < kN; ++i) pa[j] += p[i] * a(i, j);
    std::vector<double> h(kN * kN);
    for (int j = 0; j < kN; ++j)
        for (int k = 0; k < kN; ++k) {
            double s = 0;
            for (int i = 0; i < kN; ++i) s += a(i, j) * p[i] * a(i, k);
            h[j * kN + k] = s - pa[j] * pa[k];
        }
    return h;
}

std::vector<double> flat(const ag::Matrix& m) {
    std::vector<double> out;
    for (const auto& row : m) out.insert(out.end(), row.begin(), row.end());
    return out;
}

// Largest |H - closed form| over the largest |closed form| entry.
double gap(const std::vector<double>& h, const std::vector<double>& want) {
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        worst = std::max(worst, std::fabs(h[i] - want[i]));
        scale = std::max(scale, std::fabs(want[i]));
    }
    return worst / scale;
}

#ifdef TAPEGRAD_HAVE_ADOLC
constexpr short kTag = 2;
void adolc_trace(const std::vector<double>& x) {
    adolc_trace_on(kTag, {1u << 15, 1u << 16, 1u << 14, 1u << 16});
    std::vector<adouble> xa(kN);
    for (int i = 0; i < kN; ++i) xa[i] <<= x[i];
    adouble y = f(xa);
    double out = 0;
    y >>= out;
    trace_off();
}
// hessian() fills the lower triangle only; the upper is mirrored here.
std::vector<double> adolc_hessian(std::vector<double> x, double** h) {
    adolc_trace(x);
    if (hessian(kTag, kN, x.data(), h) < 0) fail("ADOL-C hessian() reported an error");
    std::vector<double> out(kN * kN);
    for (int i = 0; i < kN; ++i)
        for (int j = 0; j <= i; ++j) out[i * kN + j] = out[j * kN + i] = h[i][j];
    return out;
}
#endif

}  // namespace dense

std::map<std::string, double> hessian_gaps;  // "tapegrad (Values)" -> gap to the closed form

void verify_dense() {
    const std::vector<double> want = dense::closed_form();
    hessian_gaps["tapegrad, Values"] = dense::gap(dense::flat(ag::hessian(dense::f_values, dense::point())), want);
    {
        ag::Scope scope;
        const ag::Matrix h = ag::hessian(dense::f_tensor, dense::x_tensor());
        hessian_gaps["tapegrad, tensor"] = dense::gap(dense::flat(h), want);
    }
#ifdef TAPEGRAD_HAVE_ADOLC
    double** h = myalloc2(dense::kN, dense::kN);
    hessian_gaps["ADOL-C"] = dense::gap(dense::adolc_hessian(dense::point(), h), want);
    check_adolc_tape(dense::kTag, "dense");
    myfree2(h);
#endif
    for (const auto& [who, g] : hessian_gaps)
        if (!(g < 1e-12)) fail(fmt::format("dense Hessian from {}: largest gap to the closed form {:.3g}", who, g));
}

// ------------------------------------------------------- benchmarks ---

void bm_chain_gradient(benchmark::State& state) {
    const auto& x = chain::leaves();
    for (auto _ : state) {
        ag::Scope scope;
        chain::f(x).backward();
    }
    ag::zero_grad(x);
}
void bm_chain_record(benchmark::State& state) {
    const auto& x = chain::leaves();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(chain::f(x));
    }
}
void bm_chain_record_gradient_graph(benchmark::State& state) {
    const auto& x = chain::leaves();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(ag::grad(chain::f(x), x, ag::create_graph));
    }
}
void bm_chain_hvp(benchmark::State& state) {
    const std::vector<double> x = chain::point(), v = chain::direction();
    for (auto _ : state) benchmark::DoNotOptimize(ag::hvp(chain::f_values, x, v));
}
void bm_chain_hvp_written_out(benchmark::State& state) {
    const std::vector<double> v = chain::direction();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(chain::hvp_written_out(chain::leaves(), v));
    }
}

#ifdef TAPEGRAD_HAVE_ADOLC
constexpr short kChainTag = 1;
// gradient() keeps one Taylor coefficient per location, hess_vec() two.
constexpr AdolcBuffers kChainGradientBuffers = {1u << 21, 1u << 23, 1u << 20, 1u << 21};
constexpr AdolcBuffers kChainHvpBuffers = {1u << 21, 1u << 23, 1u << 20, 1u << 22};
void chain_trace(const std::vector<double>& x, const AdolcBuffers& buffers) {
    adolc_trace_on(kChainTag, buffers);
    std::vector<adouble> xa(chain::kLeaves);
    for (int i = 0; i < chain::kLeaves; ++i) xa[i] <<= x[i];
    adouble y = chain::f(xa);
    double out = 0;
    y >>= out;
    trace_off();
}
void verify_adolc_chain() {
    std::vector<double> x = chain::point(), v = chain::direction(), g(chain::kLeaves), hv(chain::kLeaves);
    const chain::Hand want = chain::by_hand(x, v);
    chain_trace(x, kChainGradientBuffers);
    check_adolc_tape(kChainTag, "chain");
    if (gradient(kChainTag, chain::kLeaves, x.data(), g.data()) < 0) fail("ADOL-C gradient() reported an error");
    check_close("ADOL-C chain gradient", g, want.gradient, 1e-9);
    chain_trace(x, kChainHvpBuffers);
    if (hess_vec(kChainTag, chain::kLeaves, x.data(), v.data(), hv.data()) < 0) fail("ADOL-C hess_vec() failed");
    check_close("ADOL-C chain hess_vec", hv, want.hvp, 1e-9);
}
void bm_chain_adolc_gradient(benchmark::State& state) {
    std::vector<double> x = chain::point(), g(chain::kLeaves);
    for (auto _ : state) {
        chain_trace(x, kChainGradientBuffers);
        gradient(kChainTag, chain::kLeaves, x.data(), g.data());
        benchmark::DoNotOptimize(g.data());
    }
}
void bm_chain_adolc_hvp(benchmark::State& state) {
    std::vector<double> x = chain::point(), v = chain::direction(), hv(chain::kLeaves);
    for (auto _ : state) {
        chain_trace(x, kChainHvpBuffers);
        hess_vec(kChainTag, chain::kLeaves, x.data(), v.data(), hv.data());
        benchmark::DoNotOptimize(hv.data());
    }
}
#endif

void bm_mlp_gradient(benchmark::State& state) {
    const auto& s = mlp::setup();
    for (auto _ : state) {
        ag::Scope scope;
        mlp::loss(s.params).backward();
    }
    for (const auto& p : s.params) p.zero_grad();
}
void bm_mlp_record(benchmark::State& state) {
    const auto& s = mlp::setup();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(mlp::loss(s.params));
    }
}
void bm_mlp_record_gradient_graph(benchmark::State& state) {
    const auto& s = mlp::setup();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(ag::grad(mlp::loss(s.params), s.params, ag::create_graph));
    }
}
void bm_mlp_hvp(benchmark::State& state) {
    const auto& s = mlp::setup();
    for (auto _ : state) {
        ag::Scope scope;  // ag::hvp's result tensors are leaves: freed here
        benchmark::DoNotOptimize(ag::hvp(mlp::loss, s.params, s.v));
    }
}
void bm_mlp_hvp_written_out(benchmark::State& state) {
    const auto& s = mlp::setup();
    for (auto _ : state) {
        ag::Scope scope;
        benchmark::DoNotOptimize(mlp::hvp_written_out(s.params));
    }
}

void bm_dense_values(benchmark::State& state) {
    const std::vector<double> x = dense::point();
    for (auto _ : state) benchmark::DoNotOptimize(ag::hessian(dense::f_values, x));
}
void bm_dense_tensor(benchmark::State& state) {
    for (auto _ : state) benchmark::DoNotOptimize(ag::hessian(dense::f_tensor, dense::x_tensor()));
}
#ifdef TAPEGRAD_HAVE_ADOLC
void bm_dense_adolc(benchmark::State& state) {
    double** h = myalloc2(dense::kN, dense::kN);
    std::vector<double> x = dense::point();
    for (auto _ : state) {
        dense::adolc_trace(x);
        hessian(dense::kTag, dense::kN, x.data(), h);
        benchmark::DoNotOptimize(h[dense::kN - 1]);
    }
    myfree2(h);
}
#endif

// Every repetition's CPU time per iteration, for medians.
class MedianReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        for (const Run& run : runs)
            if (run.run_type == Run::RT_Iteration && !run.error_occurred)
                seconds_[run.run_name.function_name].push_back(run.GetAdjustedCPUTime() /
                                                               benchmark::GetTimeUnitMultiplier(run.time_unit));
        ConsoleReporter::ReportRuns(runs);
    }
    std::optional<double> median(const std::string& name) const {
        const auto it = seconds_.find(name);
        if (it == seconds_.end() || it->second.empty()) return std::nullopt;
        std::vector<double> t = it->second;
        std::sort(t.begin(), t.end());
        const std::size_t m = t.size() / 2;
        return t.size() % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]);
    }

private:
    std::map<std::string, std::vector<double>> seconds_;
};

// ------------------------------------------------------------ PyTorch ---

struct PytorchFigures {
    std::optional<double> hessian_ms, vectorized_ms;
    std::string version;
};

// Runs pytorch_hessian.py --machine, which prints its version, its timings
// and its Hessian; the Hessian is compared with the closed form here.
PytorchFigures run_pytorch(const std::string& script) {
    const std::string cmd = fmt::format(
        "OMP_WAIT_POLICY=passive OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 /usr/bin/python3 '{}' --machine 2>&1",
        script);
    PytorchFigures out;
    FILE* pipe = popen(cmd.c_str(), "r");
    if (pipe == nullptr) return out;
    std::string text;
    char buffer[1 << 16];
    std::size_t got = 0;
    while ((got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) text.append(buffer, got);
    if (pclose(pipe) != 0) {
        fmt::print(stderr, "pytorch_hessian.py failed (is python3-torch installed?):\n{}", text);
        return {};
    }
    std::istringstream lines(text);
    std::string line;
    std::vector<double> h;
    while (std::getline(lines, line)) {
        std::istringstream in(line);
        std::string tag, name;
        in >> tag;
        if (tag == "VERSION") {
            in >> out.version;
        } else if (tag == "RESULT") {
            double value = 0;
            in >> name >> value;
            (name == "hessian" ? out.hessian_ms : out.vectorized_ms) = value;
        } else if (tag == "HESSIAN") {
            double e = 0;
            while (in >> e) h.push_back(e);
        } else {
            fmt::print(stderr, "pytorch_hessian.py: {}\n", line);
        }
    }
    if (h.size() != static_cast<std::size_t>(dense::kN * dense::kN))
        fail(fmt::format("PyTorch's Hessian has {} entries, expected {}", h.size(), dense::kN * dense::kN));
    const double g = dense::gap(h, dense::closed_form());
    if (!(g < 1e-12)) fail(fmt::format("dense Hessian from PyTorch: largest gap to the closed form {:.3g}", g));
    hessian_gaps["PyTorch"] = g;
    return out;
}

std::string ms(std::optional<double> seconds) { return seconds ? fmt::format("{:.3f}", *seconds * 1e3) : "-"; }
std::string ratio(std::optional<double> a, std::optional<double> b) {
    return a && b ? fmt::format("{:.2f}×", *a / *b) : "-";
}

void print_hvp_table(const MedianReporter& r) {
    fmt::print("\n## Hessian-vector product ÷ gradient (median CPU time of {} repetitions, 1 thread)\n\n",
               kRepetitions);
    fmt::print(
        "| workload | gradient ms (record + backward) | H v ms (ag::hvp) | ratio | H v written out ms | ratio "
        "| record f ms | record f + gradient graph ms |\n|---|---|---|---|---|---|---|---|\n");
    for (const char* w : {"chain", "mlp"}) {
        const std::string p = std::string(w) + "/";
        const auto grad = r.median(p + "gradient"), hvp = r.median(p + "hvp"), out = r.median(p + "hvp_written_out");
        fmt::print("| {} | {} | {} | {} | {} | {} | {} | {} |\n", w, ms(grad), ms(hvp), ratio(hvp, grad), ms(out),
                   ratio(out, grad), ms(r.median(p + "record")), ms(r.median(p + "record_gradient_graph")));
    }
    const auto adolc_grad = r.median("chain/adolc_gradient"), adolc_hvp = r.median("chain/adolc_hvp");
    if (adolc_grad && adolc_hvp)
        fmt::print(
            "\nADOL-C on chain (a new trace each time): gradient() {} ms, hess_vec() {} ms, ratio {}; "
            "tapegrad's H v is {} faster than ADOL-C's.\n",
            ms(adolc_grad), ms(adolc_hvp), ratio(adolc_hvp, adolc_grad), ratio(adolc_hvp, r.median("chain/hvp")));
    const chain::NodeCounts nodes = chain::node_counts();
    fmt::print("Chain nodes: f records {}, its gradient graph {} more ({:.2f} per node of f).\n", nodes.f,
               nodes.gradient_graph, static_cast<double>(nodes.gradient_graph) / nodes.f);
    fmt::print("Target: H v ≤ 5× the gradient.\n");
}

void print_dense_table(const MedianReporter& r, const PytorchFigures& torch) {
    fmt::print("\n## Dense Hessian, n = {}, f = log sum exp(A x) (median, 1 thread)\n\n", dense::kN);
    const auto values = r.median("hessian/tapegrad_values"), tensor = r.median("hessian/tapegrad_tensor");
    const auto adolc = r.median("hessian/adolc");
    std::optional<double> pt, ptv;
    if (torch.hessian_ms) pt = *torch.hessian_ms / 1e3;
    if (torch.vectorized_ms) ptv = *torch.vectorized_ms / 1e3;
    fmt::print(
        "| library | ms per Hessian | ADOL-C ÷ this | PyTorch ÷ this | PyTorch vectorize=True ÷ this |\n"
        "|---|---|---|---|---|\n");
    auto row = [&](const std::string& name, std::optional<double> t) {
        fmt::print("| {} | {} | {} | {} | {} |\n", name, ms(t), ratio(adolc, t), ratio(pt, t), ratio(ptv, t));
    };
    row("tapegrad ag::hessian on Values", values);
    row("tapegrad ag::hessian on a tensor", tensor);
    row("ADOL-C hessian() (with its trace)", adolc);
    row(fmt::format("PyTorch{} functional.hessian", torch.version.empty() ? "" : " " + torch.version), pt);
    row("PyTorch functional.hessian(vectorize=True)", ptv);
    fmt::print("\nEvery Hessian agreed with the closed form before timing (largest gap over the largest entry):");
    for (const auto& [who, g] : hessian_gaps) fmt::print(" {} {:.1e};", who, g);
    fmt::print("\n");
}

}  // namespace

int main(int argc, char** argv) {
    bool no_pytorch = false;
    std::string script = (std::filesystem::path(__FILE__).parent_path() / "pytorch_hessian.py").string();
    // Our flags first; the rest go to Google Benchmark.
    std::vector<char*> rest = {argv[0]};
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--no-pytorch") == 0)
            no_pytorch = true;
        else if (std::strncmp(argv[i], "--script=", 9) == 0)
            script = argv[i] + 9;
        else
            rest.push_back(argv[i]);
    }
    int rest_count = static_cast<int>(rest.size());
    benchmark::Initialize(&rest_count, rest.data());
    if (benchmark::ReportUnrecognizedArguments(rest_count, rest.data())) return 1;
    openblas_set_num_threads(1);
    // The leaves and constants every benchmark shares, made before any Scope.
    chain::leaves();
    mlp::setup();
    dense::a_tensor();
    dense::x_tensor();

    chain::verify();
    mlp::verify();
    verify_dense();
#ifdef TAPEGRAD_HAVE_ADOLC
    verify_adolc_chain();
#endif
    // PyTorch first, so its Hessian too is checked before any timing is shown.
    PytorchFigures torch;
    if (!no_pytorch) torch = run_pytorch(script);
    fmt::print(
        "All results verified (chain: f, gradient and H v by hand; mlp: gradient and H v against differences; "
        "dense Hessians against the closed form).\n");

    std::vector<std::pair<std::string, void (*)(benchmark::State&)>> runs = {
        {"chain/gradient", bm_chain_gradient},
        {"chain/record", bm_chain_record},
        {"chain/record_gradient_graph", bm_chain_record_gradient_graph},
        {"chain/hvp", bm_chain_hvp},
        {"chain/hvp_written_out", bm_chain_hvp_written_out},
#ifdef TAPEGRAD_HAVE_ADOLC
        {"chain/adolc_gradient", bm_chain_adolc_gradient},
        {"chain/adolc_hvp", bm_chain_adolc_hvp},
#endif
        {"mlp/gradient", bm_mlp_gradient},
        {"mlp/record", bm_mlp_record},
        {"mlp/record_gradient_graph", bm_mlp_record_gradient_graph},
        {"mlp/hvp", bm_mlp_hvp},
        {"mlp/hvp_written_out", bm_mlp_hvp_written_out},
        {"hessian/tapegrad_values", bm_dense_values},
        {"hessian/tapegrad_tensor", bm_dense_tensor},
#ifdef TAPEGRAD_HAVE_ADOLC
        {"hessian/adolc", bm_dense_adolc},
#endif
    };
    for (const auto& [name, fn] : runs)
        benchmark::RegisterBenchmark(name.c_str(), fn)->Unit(benchmark::kMillisecond)->Repetitions(kRepetitions);
    MedianReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    benchmark::Shutdown();

    print_hvp_table(reporter);
    print_dense_table(reporter, torch);
#ifdef TAPEGRAD_HAVE_ADOLC
    removeTape(kChainTag, ADOLC_REMOVE_COMPLETELY);
    removeTape(dense::kTag, ADOLC_REMOVE_COMPLETELY);
    // A tape that spilled to files would have put disk I/O into ADOL-C's figures.
    bool spilled = false;
    for (const auto& entry : std::filesystem::directory_iterator("."))
        if (entry.path().filename().string().starts_with("ADOLC-")) {
            fmt::print(stderr, "bench_hessian: ADOL-C left a tape file, its timings include disk I/O: {}\n",
                       entry.path().string());
            spilled = true;
        }
    if (spilled) return 1;
#endif
    return 0;
}
