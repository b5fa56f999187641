#include <autograd/tensor_gradcheck.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ag {

GradCheckReport check_gradients(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                                const std::vector<Tensor>& inputs, const GradCheckOptions& options) {
    std::vector<Shape> shapes;
    std::vector<std::vector<double>> point;
    for (const Tensor& t : inputs) {
        shapes.push_back(t.shape());
        point.push_back(t.to_vector());
    }
    Scope scope;  // everything recorded here is freed on return
    auto fresh_inputs = [&] {
        std::vector<Tensor> xs;
        for (std::size_t k = 0; k < point.size(); ++k) xs.emplace_back(shapes[k], std::span<const double>(point[k]));
        return xs;
    };
    // Output weights, so that a many-element f reduces to one number whose
    // gradient involves every output element differently.
    std::vector<double> weights;
    auto reduce = [&](const Tensor& y) -> Tensor {
        if (y.numel() == 1) return y;
        if (weights.empty()) {
            Rng rng(0x5eed);
            for (std::int64_t i = 0; i < y.numel(); ++i) weights.push_back(rng.uniform(0.5, 1.5));
        }
        Tensor w(y.shape(), std::span<const double>(weights));
        w.set_requires_grad(false);
        return sum(y * w);
    };

    GradCheckReport report;
    const std::vector<Tensor> xs = fresh_inputs();
    const Tensor y = reduce(f(xs));
    report.f = y.item();
    y.backward();

    // Not under NoGrad: f may differentiate inside (see gradcheck.cpp).
    auto eval_at = [&](std::size_t k, std::size_t j, double v) {
        Scope inner;
        const double saved = point[k][j];
        point[k][j] = v;
        const std::vector<Tensor> moved = fresh_inputs();
        point[k][j] = saved;
        return reduce(f(moved)).item();
    };
    for (std::size_t k = 0; k < point.size(); ++k) {
        const std::span<const double> analytic = xs[k].grad();
        for (std::size_t j = 0; j < point[k].size(); ++j) {
            const double x = point[k][j];
            const double h = options.step * std::max(1.0, std::fabs(x));
            GradCheckEntry e;
            e.value = x;
            e.analytic = analytic[j];
            e.numeric = (eval_at(k, j, x + h) - eval_at(k, j, x - h)) / (2 * h);
            e.abs_error = std::fabs(e.analytic - e.numeric);
            e.rel_error = e.abs_error / std::max({std::fabs(e.analytic), std::fabs(e.numeric), 1e-300});
            e.ok = e.abs_error <= options.atol + options.rtol * std::fabs(e.numeric);
            if (e.abs_error > report.max_abs_error) {
                report.max_abs_error = e.abs_error;
                report.worst_input = report.inputs.size();
            }
            report.max_rel_error = std::max(report.max_rel_error, e.rel_error);
            report.inputs.push_back(e);
        }
    }
    return report;
}

}  // namespace ag
