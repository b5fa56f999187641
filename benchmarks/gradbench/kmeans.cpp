// kmeans: the cost Σᵢ minⱼ ‖Pᵢ − Cⱼ‖² of centroids C for points P, and the
// Newton step J ⊘ diag(H) on C, J = ∂cost/∂C and H = ∂²cost/∂C². H is
// diagonal (each cost term touches one centroid, quadratically), so its
// diagonal is H·1: one reverse sweep over the gradient recorded as tensors
// (ag::grad with ag::create_graph, reverse over reverse). The Newton step
// then equals Cⱼ minus the mean of the points nearest to Cⱼ, which the tests
// check; the tool never computes that form itself.
//
// Written on tensors as a PyTorch k-means is: first each point's nearest
// centroid, not differentiated (the assignment is piecewise constant), then
// the cost as Σᵢ ‖Pᵢ − C_a(i)‖² over the n chosen rows of C (select_rows).
// Its derivatives by C are those of the min: min's derivative goes to the
// minimizer (at an exact tie min would split it evenly, the assignment gives
// it to the first centroid; GradBench's points are distinct). The n×k
// distances exist only to find the nearest centroids, a block of rows at a
// time, never whole (80 MB at the largest size, k = 1000, n = 10⁴). When the
// min was differentiated through them, that size's Newton step took 0.43 s
// (2.9 s on a first run, in fresh memory); this way it takes 17 ms.
//
// A cluster no point is nearest to has no curvature (a 0 on H's diagonal),
// so its step is 0/0 and the output is refused as non-finite; GradBench's
// inputs start every centroid on a point, so every cluster has one.
#include "gradbench.hpp"

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <algorithm>

namespace gradbench {

namespace {

// Index of each point's nearest centroid. ‖Pᵢ − Cⱼ‖² = ‖Pᵢ‖² + ‖Cⱼ‖² − 2 Pᵢ·Cⱼ
// and ‖Pᵢ‖² is the same for every j, so the argmin over j is that of
// ‖Cⱼ‖² − 2 Pᵢ·Cⱼ: one matrix product a block of 256 points.
std::vector<std::int64_t> nearest(const ag::Tensor& points, const ag::Tensor& centroids) {
    constexpr std::int64_t block = 256;
    ag::NoGrad no_grad;
    const ag::Tensor norms = ag::transpose(ag::sum(centroids * centroids, 1, true));  // [1, k]
    const ag::Tensor minus_twice = -2.0 * ag::transpose(centroids);                   // [d, k]
    const std::int64_t n = points.shape()[0];
    std::vector<std::int64_t> out;
    out.reserve(static_cast<std::size_t>(n));
    for (std::int64_t start = 0; start < n; start += block) {
        ag::Scope scope;  // the block's memory, reused by the next
        const ag::Tensor rows = ag::slice(points, 0, start, std::min(n, start + block));
        const std::vector<std::int64_t> a = ag::argmin(ag::matmul(rows, minus_twice) + norms, 1);
        out.insert(out.end(), a.begin(), a.end());
    }
    return out;
}

ag::Tensor cost(const ag::Tensor& points, const ag::Tensor& centroids) {
    const std::vector<std::int64_t> a = nearest(points, centroids);
    const ag::Tensor diff = points - ag::select_rows(centroids, std::span<const std::int64_t>(a));
    return ag::sum(diff * diff);
}

struct Input {
    Matrix points, centroids;
};

Input parse(const json& in) {
    Input x;
    x.points = matrix(member(in, "points", "kmeans input"), "kmeans input.points", {}, {});
    if (x.points.rows == 0 || x.points.cols == 0)
        throw InputError(
            fmt::format("kmeans input.points is {} x {}; the cost needs at least one point of one coordinate",
                        x.points.rows, x.points.cols));
    x.centroids = matrix(member(in, "centroids", "kmeans input"), "kmeans input.centroids", {}, x.points.cols);
    if (x.centroids.rows == 0)
        throw InputError("kmeans input.centroids is empty; the cost needs at least one centroid");
    return x;
}

ag::Tensor tensor(const Matrix& m) {
    return ag::Tensor({static_cast<std::int64_t>(m.rows), static_cast<std::int64_t>(m.cols)},
                      std::span<const double>(m.values));
}

json rows(const std::vector<double>& values, std::size_t width) {
    json out = json::array();
    for (std::size_t r = 0; r * width < values.size(); ++r)
        out.push_back(std::vector<double>(values.begin() + static_cast<std::ptrdiff_t>(r * width),
                                          values.begin() + static_cast<std::ptrdiff_t>((r + 1) * width)));
    return out;
}

Evaluation primal(const json& in) {
    const Input x = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        ag::NoGrad no_grad;
        f = cost(tensor(x.points), tensor(x.centroids)).item();
    });
    return {f, std::move(ns)};
}

Evaluation newton_direction(const json& in) {
    const Input x = parse(in);
    std::vector<double> dir;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const ag::Tensor points = tensor(x.points).set_requires_grad(false);
        const ag::Tensor centroids = tensor(x.centroids);
        const ag::Tensor j = ag::grad(cost(points, centroids), {centroids}, ag::create_graph)[0];
        const ag::Tensor h = ag::grad(ag::sum(j), {centroids})[0];
        const ag::TensorData<double> step = (j / h).data();
        dir.assign(step.begin(), step.end());
    });
    return {rows(dir, x.points.cols), std::move(ns)};
}

}  // namespace

extern const Module kmeans_module{"kmeans", {{"cost", primal}, {"dir", newton_direction}}, {}};

}  // namespace gradbench
