// lse: log Σ exp(x_i), computed stably as A + log Σ exp(x_i − A), A = max x.
// A whole-vector function, so written on a tensor, as a PyTorch user would.
#include "gradbench.hpp"

#include <autograd/tensor.hpp>

namespace gradbench {

namespace {

ag::Tensor log_sum_exp(const ag::Tensor& x) {
    const ag::Tensor top = ag::max(x);
    return ag::log(ag::sum(ag::exp(x - top))) + top;
}

std::vector<double> parse(const json& in) {
    std::vector<double> x = numbers(member(in, "x", "lse input"), "lse input.x");
    if (x.empty()) throw InputError("lse input.x is empty; log-sum-exp needs at least one number");
    return x;
}

ag::Tensor as_tensor(const std::vector<double>& x) {
    return ag::Tensor({static_cast<std::int64_t>(x.size())}, std::span<const double>(x));
}

Evaluation primal(const json& in) {
    const std::vector<double> x = parse(in);
    double f = 0;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        ag::NoGrad no_grad;
        f = log_sum_exp(as_tensor(x)).item();
    });
    return {f, std::move(ns)};
}

Evaluation gradient(const json& in) {
    const std::vector<double> x = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const ag::Tensor xt = as_tensor(x);
        log_sum_exp(xt).backward();
        const std::span<const double> d = xt.grad();
        g.assign(d.begin(), d.end());
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module lse_module{"lse", {{"primal", primal}, {"gradient", gradient}}, {}};

}  // namespace gradbench
