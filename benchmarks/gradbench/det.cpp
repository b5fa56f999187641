// det: the determinant of an ℓ×ℓ matrix by expansion in minors along the
// first row (cmpad's benchmark): (e − 1)·ℓ! products and about ℓ! sums; the
// point is the sheer number of recorded operations. At ℓ = 11, written with
// * and + it records 1.09·10^8 nodes; each minor's sums of products through
// muladd, as below, 9.7·10^7.
#include "gradbench.hpp"

#include <fmt/format.h>

namespace gradbench {

namespace {

// Laplace expansion of the minor made of rows row.. of `a` (n×n, row-major)
// and the m columns listed in cols[0..m). Each depth lists the columns of
// its sub-minor in its own slice of `scratch` (n entries a depth).
template <class T>
T expand(std::span<const T> a, std::size_t n, std::size_t row, const std::size_t* cols, std::size_t m,
         std::size_t* scratch) {
    using ag::muladd;
    if (m == 1) return a[row * n + cols[0]];
    // The sub-minor without column j lists cols[0..j) and cols(j..m); going
    // from j to j + 1 only its entry j changes.
    std::size_t* sub = scratch + (row + 1) * n;
    for (std::size_t k = 1; k < m; ++k) sub[k - 1] = cols[k];
    // The terms of even and odd j summed apart: each term past the first of
    // its sign is one multiply-add.
    T even = a[row * n + cols[0]] * expand(a, n, row + 1, sub, m - 1, scratch);
    sub[0] = cols[0];
    T odd = a[row * n + cols[1]] * expand(a, n, row + 1, sub, m - 1, scratch);
    for (std::size_t j = 2; j < m; ++j) {
        sub[j - 1] = cols[j - 1];
        T& sum = j % 2 == 0 ? even : odd;
        sum = muladd(a[row * n + cols[j]], expand(a, n, row + 1, sub, m - 1, scratch), sum);
    }
    return even - odd;
}

template <class T>
T det_by_minors(std::span<const T> a, std::size_t n) {
    std::vector<std::size_t> scratch((n + 1) * n);
    for (std::size_t k = 0; k < n; ++k) scratch[k] = k;
    return expand(a, n, 0, scratch.data(), n, scratch.data());
}

struct Input {
    std::vector<double> a;
    std::size_t ell = 0;
};

Input parse(const json& in) {
    Input x;
    // ℓ = 13 would record 2·10^10 nodes, past the tape's 2^32 limit.
    x.ell = static_cast<std::size_t>(integer(member(in, "ell", "det input"), "det input.ell", 1, 12));
    x.a = numbers(member(in, "A", "det input"), fmt::format("det input.A (ell = {})", x.ell), x.ell * x.ell);
    return x;
}

Evaluation primal(const json& in) {
    const Input x = parse(in);
    double det = 0;
    auto ns = run_timed(runs_of(in), [&] { det = det_by_minors<double>(x.a, x.ell); });
    return {det, std::move(ns)};
}

Evaluation gradient(const json& in) {
    const Input x = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const std::vector<ag::Value> a = leaves(x.a);
        det_by_minors<ag::Value>(a, x.ell).backward();
        g = grads(a);
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module det_module{"det", {{"primal", primal}, {"gradient", gradient}}, {}};

}  // namespace gradbench
