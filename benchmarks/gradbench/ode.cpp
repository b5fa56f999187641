// ode: s classical Runge–Kutta steps (cmpad's benchmark) for y' = f(y),
// f(y)_0 = x_0, f(y)_i = x_i·y_{i−1}, from y(0) = 0 to t = 2. The primal is
// y(2); the derivative is the gradient of its last component.
#include "gradbench.hpp"

namespace gradbench {

namespace {

template <class T>
void rhs(std::span<const T> x, const std::vector<T>& y, std::vector<T>& out) {
    out[0] = x[0];
    for (std::size_t i = 1; i < x.size(); ++i) out[i] = x[i] * y[i - 1];
}

template <class T>
std::vector<T> runge_kutta(std::span<const T> x, std::size_t steps) {
    const std::size_t n = x.size();
    const double h = 2.0 / static_cast<double>(steps);
    // y(0) = 0 is a constant, not a leaf: only what depends on x is recorded.
    std::vector<T> y(n, ag::constant<T>(0.0)), k1(n), k2(n), k3(n), k4(n), at(n);
    for (std::size_t step = 0; step < steps; ++step) {
        rhs(x, y, k1);
        for (std::size_t i = 0; i < n; ++i) at[i] = y[i] + (h / 2) * k1[i];
        rhs(x, at, k2);
        for (std::size_t i = 0; i < n; ++i) at[i] = y[i] + (h / 2) * k2[i];
        rhs(x, at, k3);
        for (std::size_t i = 0; i < n; ++i) at[i] = y[i] + h * k3[i];
        rhs(x, at, k4);
        for (std::size_t i = 0; i < n; ++i) y[i] = y[i] + (h / 6) * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
    }
    return y;
}

struct Input {
    std::vector<double> x;
    std::size_t s = 0;
};

Input parse(const json& in) {
    Input p;
    p.s = static_cast<std::size_t>(integer(member(in, "s", "ode input"), "ode input.s", 1, INT32_MAX));
    p.x = numbers(member(in, "x", "ode input"), "ode input.x");
    if (p.x.empty()) throw InputError("ode input.x is empty; the system needs at least one equation");
    return p;
}

Evaluation primal(const json& in) {
    const Input p = parse(in);
    std::vector<double> y;
    auto ns = run_timed(runs_of(in), [&] { y = runge_kutta<double>(p.x, p.s); });
    return {y, std::move(ns)};
}

Evaluation gradient(const json& in) {
    const Input p = parse(in);
    std::vector<double> g;
    auto ns = run_timed(runs_of(in), [&] {
        ag::Scope scope;
        const std::vector<ag::Value> x = leaves(p.x);
        // ag::grad, not backward(): y_{n-1} is a constant when no x reaches
        // it (RK4 moves information 4 components a step), and its gradient 0.
        g = ag::grad(runge_kutta<ag::Value>(x, p.s).back(), x);
    });
    return {g, std::move(ns)};
}

}  // namespace

extern const Module ode_module{"ode", {{"primal", primal}, {"gradient", gradient}}, {}};

}  // namespace gradbench
