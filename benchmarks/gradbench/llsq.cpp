// llsq: linear least squares (cmpad's benchmark). With t_i = −1 + 2i/(n−1)
// and s(t) = sign(t), f(x) = ½ Σ_i (s(t_i) − Σ_j x_j t_i^j)², i < n, j < m:
// ½‖s − V x‖² with V the n×m matrix of powers t_i^j. Written on tensors, as
// a PyTorch user would write least squares: one matrix product (BLAS), and
// its gradient −Vᵀ(s − V x) from the engine's matmul rule. V and s are data
// (no gradient), built inside every run.
#include "gradbench.hpp"

#include <autograd/tensor.hpp>

namespace gradbench {

namespace {

ag::Tensor least_squares(const ag::Tensor& x, std::int64_t n) {
    const std::int64_t m = x.size(0);
    ag::Tensor powers = ag::Tensor::zeros({n, m}).set_requires_grad(false);
    ag::Tensor signs = ag::Tensor::zeros({n, 1}).set_requires_grad(false);
    const std::span<double> v = powers.data(), s = signs.data();
    for (std::int64_t i = 0; i < n; ++i) {
        const double t = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n - 1);
        s[i] = t > 0 ? 1.0 : (t < 0 ? -1.0 : 0.0);
        double p = 1.0;
        for (std::int64_t j = 0; j < m; ++j, p *= t) v[i * m + j] = p;
    }
    const ag::Tensor r = signs - ag::matmul(powers, ag::reshape(x, {m, 1}));
    return ag::sum(r * r) * 0.5;
}

struct Input {
    std::vector<double> x;
    std::int64_t n = 0;
};

Input parse(const json& in) {
    Input p;
    // t_i divides by n − 1.
    p.n = static_cast<std::int64_t>(integer(member(in, "n", "llsq input"), "llsq input.n", 2, INT32_MAX));
    p.x = numbers(member(in, "x", "llsq input"), "llsq input.x");
    if (p.x.empty()) throw InputError("llsq input.x is empty; the polynomial needs at least one coefficient");
    return p;
}

ag::Tensor as_tensor(const std::vector<double>& x) {
    return ag::Tensor({static_cast<std::int64_t>(x.size())}, std::span<const double>(x));
}

Evaluation primal(const json& in) {
    const Input p = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        ag::NoGrad no_grad;
        f = least_squares(as_tensor(p.x), p.n).item();
    });
    return {f, std::move(ns)};
}

Evaluation gradient(const json& in) {
    const Input p = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const ag::Tensor x = as_tensor(p.x);
        least_squares(x, p.n).backward();
        const std::span<const double> d = x.grad();
        g.assign(d.begin(), d.end());
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module llsq_module{"llsq", {{"primal", primal}, {"gradient", gradient}}, {}};

}  // namespace gradbench
