// gmm: the log-posterior of a Gaussian mixture (ADBench's objective, as
// corrected in GradBench): n points x_i in d dimensions, k components with
// log-weights alpha, means mu, and precision factors Q_c: lower-triangular,
// diagonal exp(q_c), strict lower part filled column by column from l_c;
// a Wishart prior (gamma, m) on the precisions.
//
//   f = Σ_i logsumexp_c(alpha_c + Σ_j q_cj − ½‖Q_c(x_i − mu_c)‖²)
//       − n·logsumexp(alpha) − n·d/2·log 2π
//       − Σ_c [½γ²(‖exp(q_c)‖² + ‖l_c‖²) − m·Σ_j q_cj] + k·C(d, m, γ)
//
// Written on tensors, as a PyTorch user would (a scalar tape of this
// function would hold n·k·d² nodes, 4·10^8 at d = 64, k = 100, n = 1000),
// and for all components at once: one matrix product with every Q_cᵀ side
// by side, instead of a loop of k small products.
#include "gradbench.hpp"

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <cmath>
#include <numbers>

namespace gradbench {

namespace {

struct Parameters {
    ag::Tensor alpha, mu, q, l;  // [k], [k, d], [k, d], [k, d(d−1)/2]
};

struct Input {
    std::int64_t d = 0, k = 0, n = 0, m = 0;
    double gamma = 1;
    std::vector<double> x, alpha, mu, q, l;  // row-major
    // Where each entry of [Q_0ᵀ Q_1ᵀ ... Q_{k-1}ᵀ] ([d, k·d]) comes from in
    // the rows [exp(q_c), l_c, 0] laid end to end: Q_cᵀ has exp(q_c) on its
    // diagonal, Q_c[j][i] (from l_c) at (i, j > i), and 0 below.
    std::vector<std::int64_t> qt_from;
    // Where μ_c·Q_cᵀ sits in the flattened [k, k·d] product μ·[Q_0ᵀ ... Q_{k-1}ᵀ].
    std::vector<std::int64_t> own_block;
};

ag::Tensor log_sum_exp_rows(const ag::Tensor& a) {  // over the last axis
    const ag::Tensor top = ag::max(a, -1, true);
    return ag::log(ag::sum(ag::exp(a - top), -1)) + ag::reshape(top, {a.size(0)});
}

ag::Tensor log_sum_exp(const ag::Tensor& a) {
    const ag::Tensor top = ag::max(a);
    return ag::log(ag::sum(ag::exp(a - top))) + top;
}

ag::Tensor log_posterior(const Input& in, const Parameters& p, const ag::Tensor& x) {
    const std::int64_t d = in.d, k = in.k, n = in.n;
    const std::int64_t tri = d * (d - 1) / 2;
    const ag::Tensor q_diag = ag::exp(p.q);
    const ag::Tensor sum_q = ag::sum(p.q, 1);
    // Every component's Q_cᵀ side by side, so that one matrix product
    // gives Q_c(x_i − μ_c) = x_i·Q_cᵀ − μ_c·Q_cᵀ for all i and c.
    const ag::Tensor zero = ag::Tensor::zeros({k, 1}).set_requires_grad(false);
    const ag::Tensor pieces = tri > 0 ? ag::concat({q_diag, p.l, zero}, 1) : ag::concat({q_diag, zero}, 1);
    const ag::Tensor qt = ag::reshape(
        ag::select_rows(ag::reshape(pieces, {pieces.numel()}), std::span<const std::int64_t>(in.qt_from)), {d, k * d});
    const ag::Tensor mu_qt =
        ag::select_rows(ag::reshape(ag::matmul(p.mu, qt), {k * k * d}), std::span<const std::int64_t>(in.own_block));
    const ag::Tensor qx = ag::matmul(x, qt) - mu_qt;                       // [n, k·d]
    const ag::Tensor norms = ag::sum(ag::reshape(qx * qx, {n, k, d}), 2);  // ‖Q_c(x_i − μ_c)‖², [n, k]
    const ag::Tensor mixture = ag::sum(log_sum_exp_rows((p.alpha + sum_q) - 0.5 * norms));

    ag::Tensor frobenius = ag::sum(q_diag * q_diag);
    if (tri > 0) frobenius = frobenius + ag::sum(p.l * p.l);
    const double nd = static_cast<double>(n * d), m = static_cast<double>(in.m);
    const double wishart_n = static_cast<double>(d + in.m + 1);
    double log_gamma_d = 0.25 * static_cast<double>(d * (d - 1)) * std::log(std::numbers::pi);
    for (std::int64_t j = 1; j <= d; ++j)
        log_gamma_d += std::lgamma(0.5 * wishart_n + 0.5 * static_cast<double>(1 - j));
    const double wishart_c =
        wishart_n * static_cast<double>(d) * (std::log(in.gamma) - 0.5 * std::log(2.0)) - log_gamma_d;
    const double constant = -0.5 * nd * std::log(2 * std::numbers::pi) + static_cast<double>(k) * wishart_c;

    return mixture - static_cast<double>(n) * log_sum_exp(p.alpha) - (0.5 * in.gamma * in.gamma) * frobenius +
           m * ag::sum(sum_q) + constant;
}

Input parse(const json& in) {
    Input p;
    constexpr const char* where = "gmm input";
    p.d = integer(member(in, "d", where), "gmm input.d", 1, 1 << 20);
    p.k = integer(member(in, "k", where), "gmm input.k", 1, 1 << 20);
    p.n = integer(member(in, "n", where), "gmm input.n", 1, 1 << 30);
    p.m = integer(member(in, "m", where), "gmm input.m", 0, 1 << 20);
    p.gamma = number(member(in, "gamma", where), "gmm input.gamma");
    if (p.gamma <= 0)
        throw InputError(fmt::format("gmm input.gamma is {}; the Wishart prior needs gamma > 0", p.gamma));
    const auto d = static_cast<std::size_t>(p.d), k = static_cast<std::size_t>(p.k);
    const std::size_t tri = d * (d - 1) / 2;
    const auto shape = [&](const char* name, const char* dims, std::size_t rows, std::size_t cols) {
        return fmt::format("gmm input.{} ({} = {} x {})", name, dims, rows, cols);
    };
    const auto n = static_cast<std::size_t>(p.n);
    p.x = matrix(member(in, "x", where), shape("x", "n x d", n, d), n, d).values;
    p.alpha = numbers(member(in, "alpha", where), fmt::format("gmm input.alpha (k = {})", p.k), k);
    p.mu = matrix(member(in, "mu", where), shape("mu", "k x d", k, d), k, d).values;
    p.q = matrix(member(in, "q", where), shape("q", "k x d", k, d), k, d).values;
    p.l = matrix(member(in, "l", where), shape("l", "k x d(d-1)/2", k, tri), k, tri).values;
    // Q_cᵀ's entry (i, j) within the row [exp(q_c), l_c, 0] of its component.
    std::vector<std::int64_t> source(d * d, static_cast<std::int64_t>(d + tri));
    std::int64_t next = static_cast<std::int64_t>(d);
    for (std::size_t i = 0; i < d; ++i) {
        source[i * d + i] = static_cast<std::int64_t>(i);
        for (std::size_t j = i + 1; j < d; ++j) source[i * d + j] = next++;  // l fills Q_c column by column
    }
    const auto width = static_cast<std::int64_t>(d + tri + 1);
    p.qt_from.resize(d * k * d);
    for (std::size_t i = 0; i < d; ++i)
        for (std::size_t c = 0; c < k; ++c)
            for (std::size_t j = 0; j < d; ++j)
                p.qt_from[(i * k + c) * d + j] = static_cast<std::int64_t>(c) * width + source[i * d + j];
    p.own_block.resize(k * d);
    for (std::size_t c = 0; c < k; ++c)
        for (std::size_t j = 0; j < d; ++j) p.own_block[c * d + j] = static_cast<std::int64_t>((c * k + c) * d + j);
    return p;
}

ag::Tensor tensor(const std::vector<double>& values, ag::Shape shape) {
    return ag::Tensor(shape, std::span<const double>(values));
}

Parameters parameters(const Input& in) {
    const std::int64_t tri = in.d * (in.d - 1) / 2;
    Parameters p{tensor(in.alpha, {in.k}), tensor(in.mu, {in.k, in.d}), tensor(in.q, {in.k, in.d}), {}};
    if (tri > 0) p.l = tensor(in.l, {in.k, tri});
    return p;
}

json rows(std::span<const double> values, std::int64_t k) {
    json out = json::array();
    const std::size_t width = k > 0 ? values.size() / static_cast<std::size_t>(k) : 0;
    for (std::int64_t c = 0; c < k; ++c)
        out.push_back(std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(c * width),
                                          values.begin() + static_cast<std::ptrdiff_t>((c + 1) * width)));
    return out;
}

Evaluation objective(const json& in) {
    const Input p = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        ag::NoGrad no_grad;
        f = log_posterior(p, parameters(p), tensor(p.x, {p.n, p.d})).item();
    });
    return {f, std::move(ns)};
}

Evaluation jacobian(const json& in) {
    const Input p = parse(in);
    std::vector<double> alpha, mu, q, l;
    const auto copy = [](const ag::Tensor& t, std::vector<double>& to) {
        const std::span<const double> g = t.grad();
        to.assign(g.begin(), g.end());
    };
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const Parameters w = parameters(p);
        const ag::Tensor x = tensor(p.x, {p.n, p.d}).set_requires_grad(false);
        log_posterior(p, w, x).backward();
        copy(w.alpha, alpha);
        copy(w.mu, mu);
        copy(w.q, q);
        if (!w.l.empty())
            copy(w.l, l);
        else
            l.clear();
    });
    return {json{{"alpha", alpha}, {"mu", rows(mu, p.k)}, {"q", rows(q, p.k)}, {"l", rows(l, p.k)}}, std::move(ns)};
}

}  // namespace

extern const Module gmm_module{"gmm", {{"objective", objective}, {"jacobian", jacobian}}, {}};

}  // namespace gradbench
