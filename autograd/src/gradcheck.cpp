#include <autograd/gradcheck.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ag {

bool GradCheckReport::ok() const {
    return std::all_of(inputs.begin(), inputs.end(), [](const GradCheckEntry& e) { return e.ok; });
}

std::string GradCheckReport::table() const {
    std::string s = fmt::format("f = {:.17g}\n{:>5} {:>14} {:>22} {:>22} {:>10} {:>10}\n", f, "input", "value",
                                "analytic", "numeric", "abs err", "rel err");
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const auto& e = inputs[k];
        s += fmt::format("{:>5} {:>14.6g} {:>22.15g} {:>22.15g} {:>10.2e} {:>10.2e}{}\n", k, e.value, e.analytic,
                         e.numeric, e.abs_error, e.rel_error, e.ok ? "" : "  <-- FAIL");
    }
    return s;
}

GradCheckReport check_gradients(const std::function<Value(const std::vector<Value>&)>& f,
                                const std::vector<double>& point, const GradCheckOptions& options) {
    Scope scope;  // everything recorded here is freed on return
    GradCheckReport report;
    std::vector<Value> x(point.begin(), point.end());
    const Value y = f(x);
    report.f = y.data();
    const std::vector<double> analytic = grad(y, x);

    // Every evaluation reuses the leaves x, moving one input and putting it
    // back, so n inputs cost 2n evaluations of f and nothing more (fresh
    // leaves for each evaluation made it n^2 even for an f that reads one
    // input). Only nodes recorded after x are freed by the inner Scope.
    auto eval_at = [&](std::size_t k, double xk) {
        struct PutBack {
            const Value& leaf;
            double data;
            ~PutBack() { leaf.set_data(data); }
        } put_back{x[k], point[k]};
        Scope inner;
        NoGrad no_grad;
        x[k].set_data(xk);
        return f(x).data();
    };
    for (std::size_t k = 0; k < point.size(); ++k) {
        const double h = options.step * std::max(1.0, std::fabs(point[k]));
        GradCheckEntry e;
        e.value = point[k];
        e.analytic = analytic[k];
        e.numeric = (eval_at(k, point[k] + h) - eval_at(k, point[k] - h)) / (2 * h);
        e.abs_error = std::fabs(e.analytic - e.numeric);
        e.rel_error = e.abs_error / std::max({std::fabs(e.analytic), std::fabs(e.numeric), 1e-300});
        e.ok = e.abs_error <= options.atol + options.rtol * std::fabs(e.numeric);
        if (e.abs_error > report.max_abs_error) {
            report.max_abs_error = e.abs_error;
            report.worst_input = k;
        }
        report.max_rel_error = std::max(report.max_rel_error, e.rel_error);
        report.inputs.push_back(e);
    }
    return report;
}

}  // namespace ag
