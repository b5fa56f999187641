// kmeans: the cost Σᵢ minⱼ ‖Pᵢ − Cⱼ‖² of centroids C for points P, and the
// Newton step J ⊘ diag(H) on C, J = ∂cost/∂C and H = ∂²cost/∂C². H is
// diagonal (each cost term touches one centroid, quadratically), so its
// diagonal is H·1: one reverse sweep over the gradient recorded as tensors
// (ag::grad with ag::create_graph, reverse over reverse). The Newton step
// then equals Cⱼ minus the mean of the points nearest to Cⱼ, which the tests
// check; the tool never computes that form itself.
//
// A whole-array function, so written on tensors: the n×k squared distances
// as ‖Pᵢ‖² + ‖Cⱼ‖² − 2 Pᵢ·Cⱼ (one matrix product; the n×k×d differences
// would take 1.3 GB at the largest size). A cluster no point is nearest to
// has no curvature (a 0 on H's diagonal), so its step is 0/0 and the output
// is refused as non-finite; GradBench's inputs start every centroid on a
// point, so every cluster has one.
#include "gradbench.hpp"

#include <autograd/tensor.hpp>

#include <fmt/format.h>

namespace gradbench {

namespace {

ag::Tensor cost(const ag::Tensor& points, const ag::Tensor& centroids) {
    const ag::Tensor distances = ag::sum(points * points, 1, true) +
                                 ag::transpose(ag::sum(centroids * centroids, 1, true)) -
                                 2.0 * ag::matmul(points, ag::transpose(centroids));
    return ag::sum(ag::min(distances, 1));
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
