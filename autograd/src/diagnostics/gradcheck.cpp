#include <autograd/gradcheck.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace ag {

bool GradCheckReport::ok() const {
    return std::all_of(inputs.begin(), inputs.end(), [](const GradCheckEntry& e) { return e.ok; }) &&
           std::all_of(hessian.begin(), hessian.end(), [](const HessianCheckEntry& h) { return h.check.ok; });
}

std::string GradCheckReport::table() const {
    std::string s = fmt::format("f = {:.17g}\n{:>5} {:>14} {:>22} {:>22} {:>10} {:>10}\n", f, "input", "value",
                                "analytic", "numeric", "abs err", "rel err");
    for (std::size_t k = 0; k < inputs.size(); ++k) {
        const auto& e = inputs[k];
        s += fmt::format("{:>5} {:>14.6g} {:>22.15g} {:>22.15g} {:>10.2e} {:>10.2e}{}\n", k, e.value, e.analytic,
                         e.numeric, e.abs_error, e.rel_error, e.ok ? "" : "  <-- FAIL");
    }
    if (!hessian.empty()) {
        s += fmt::format("second derivatives\n{:>5} {:>22} {:>22} {:>10} {:>10}\n", "entry", "analytic", "numeric",
                         "abs err", "rel err");
        for (const auto& h : hessian)
            s += fmt::format("{:>5} {:>22.15g} {:>22.15g} {:>10.2e} {:>10.2e}{}\n", fmt::format("{},{}", h.row, h.col),
                             h.check.analytic, h.check.numeric, h.check.abs_error, h.check.rel_error,
                             h.check.ok ? "" : "  <-- FAIL");
    }
    return s;
}

namespace {
GradCheckEntry compare(double value, double analytic, double numeric, const GradCheckOptions& options) {
    GradCheckEntry e;
    e.value = value;
    e.analytic = analytic;
    e.numeric = numeric;
    e.abs_error = std::fabs(e.analytic - e.numeric);
    e.rel_error = e.abs_error / std::max({std::fabs(e.analytic), std::fabs(e.numeric), 1e-300});
    e.ok = e.abs_error <= options.atol + options.rtol * std::fabs(e.numeric);
    return e;
}
}  // namespace

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
    // input). Only nodes recorded after x are freed by the inner Scope. Not
    // under NoGrad: f may differentiate inside (a gradient penalty), and
    // under NoGrad its inner gradients would be constants.
    struct PutBack {
        const Value& leaf;
        double data;
        ~PutBack() { leaf.set_data(data); }
    };
    auto eval_at = [&](std::size_t k, double xk) {
        const PutBack put_back{x[k], point[k]};
        Scope inner;
        x[k].set_data(xk);
        return f(x).data();
    };
    for (std::size_t k = 0; k < point.size(); ++k) {
        const double h = options.step * std::max(1.0, std::fabs(point[k]));
        const GradCheckEntry e =
            compare(point[k], analytic[k], (eval_at(k, point[k] + h) - eval_at(k, point[k] - h)) / (2 * h), options);
        if (e.abs_error > report.max_abs_error) {
            report.max_abs_error = e.abs_error;
            report.worst_input = k;
        }
        report.max_rel_error = std::max(report.max_rel_error, e.rel_error);
        report.inputs.push_back(e);
    }
    if (options.second_order) {
        // Row i of the Hessian: the recorded gradient's entry i, swept again.
        const std::vector<Value> g = grad(y, x, create_graph);
        auto gradient_at = [&](std::size_t k, double xk) {
            const PutBack put_back{x[k], point[k]};
            Scope inner;
            x[k].set_data(xk);
            return grad(f(x), x);
        };
        std::vector<std::vector<double>> up, down;
        for (std::size_t k = 0; k < point.size(); ++k) {
            const double h = options.step * std::max(1.0, std::fabs(point[k]));
            up.push_back(gradient_at(k, point[k] + h));
            down.push_back(gradient_at(k, point[k] - h));
        }
        for (std::size_t i = 0; i < point.size(); ++i) {
            const std::vector<double> row = grad(g[i], x);
            for (std::size_t j = 0; j < point.size(); ++j) {
                const double h = options.step * std::max(1.0, std::fabs(point[j]));
                report.hessian.push_back({i, j, compare(point[j], row[j], (up[j][i] - down[j][i]) / (2 * h), options)});
            }
        }
    }
    return report;
}

}  // namespace ag
