// llsq: linear least squares (cmpad's benchmark). With t_i = −1 + 2i/(n−1)
// and s(t) = sign(t), f(x) = ½ Σ_i (s(t_i) − Σ_j x_j t_i^j)², i < n, j < m.
#include "gradbench.hpp"

#include <fmt/format.h>

namespace gradbench {

namespace {

template <class T>
T least_squares(std::span<const T> x, std::size_t n) {
    const std::size_t m = x.size();
    T sum = 0.0;
    for (std::size_t i = 0; i < n; ++i) {
        const double t = -1.0 + 2.0 * static_cast<double>(i) / static_cast<double>(n - 1);
        const double s = t > 0 ? 1.0 : (t < 0 ? -1.0 : 0.0);
        // The polynomial by Horner's rule: one constant, t, for the row.
        T fit = x[m - 1];
        for (std::size_t j = m - 1; j-- > 0;) fit = fit * t + x[j];
        const T r = s - fit;
        sum = sum + r * r;
    }
    return sum * 0.5;
}

struct Input {
    std::vector<double> x;
    std::size_t n = 0;
};

Input parse(const json& in) {
    Input p;
    // t_i divides by n − 1.
    p.n = static_cast<std::size_t>(integer(member(in, "n", "llsq input"), "llsq input.n", 2, INT32_MAX));
    p.x = numbers(member(in, "x", "llsq input"), "llsq input.x");
    if (p.x.empty()) throw InputError("llsq input.x is empty; the polynomial needs at least one coefficient");
    return p;
}

Evaluation primal(const json& in) {
    const Input p = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] { f = least_squares<double>(p.x, p.n); });
    return {f, std::move(ns)};
}

Evaluation gradient(const json& in) {
    const Input p = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const std::vector<ag::Value> x = leaves(p.x);
        least_squares<ag::Value>(x, p.n).backward();
        g = grads(x);
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module llsq_module{"llsq", {{"primal", primal}, {"gradient", gradient}}, {}};

}  // namespace gradbench
