// particle (Pearlmutter and Siskind): a unit charge starts at (0, 8) with
// velocity (0.75, 0) in the field of two unit charges at (10, 10 − w) and
// (10, 0); naive Euler steps of 0.1 (acceleration −∇ₓp, p(x) = Σ 1/‖x − c‖)
// run until it crosses the x-axis, where the crossing point x_f is found by
// linear interpolation. The output is the w gradient descent (nested.hpp)
// finds for min_w x_f(w)², from the input's w. The force is a gradient
// taken inside the function the outer descent differentiates: nested
// differentiation, the letters naming the modes, outer then inner (rr, rf,
// fr, ff).
#include "nested.hpp"

#include <fmt/format.h>

namespace gradbench {

namespace {

using nested::Mode;
using nested::Point;

// p at `at`; params[0] = w.
const auto potential = [](const auto& at, const auto& params) {
    using std::sqrt;
    const auto& w = params[0];
    const auto dx = at[0] - 10.0;
    return 1.0 / sqrt(dx * dx + (at[1] - (10.0 - w)) * (at[1] - (10.0 - w))) + 1.0 / sqrt(dx * dx + at[1] * at[1]);
};

// x_f(w)² for w of any number type (double, Value, Dual<double>).
template <Mode inner, class T>
T landing_squared(const T& w) {
    Point<2, T> x = {T(0.0), T(8.0)};
    Point<2, T> v = {T(0.75), T(0.0)};
    const Point<1, T> params = {w};
    const double dt = 0.1;
    // From w = 0 it lands after about a hundred steps; a w whose charge
    // holds the particle up must not hang the tool.
    const int max_steps = 1000000;
    for (int step = 0;; ++step) {
        if (step == max_steps)
            throw InputError(
                fmt::format("particle: with w = {} the particle has not reached the x-axis after {} "
                            "Euler steps of {}",
                            ag::primal(w), max_steps, dt));
        const Point<2, T> force = nested::gradient<inner>(potential, x, params);
        x[0] = x[0] + dt * v[0];
        x[1] = x[1] + dt * v[1];
        if (ag::primal(x[1]) <= 0) {
            const T dt_f = -x[1] / v[1];
            const T x_f = x[0] + dt_f * v[0];
            return x_f * x_f;
        }
        v[0] = v[0] - dt * force[0];
        v[1] = v[1] - dt * force[1];
    }
}

template <Mode outer, Mode inner>
Evaluation run(const json& in) {
    const double w0 = number(member(in, "w", "particle input"), "particle input.w");
    const auto objective = [](const auto& w) { return landing_squared<inner>(w[0]); };
    double w = 0;
    auto ns = run_timed(runs_of(in), [&] {
        w = nested::argmin<1>([&](const Point<1, double>& at) { return objective(at); },
                              [&](const Point<1, double>& at) { return nested::outer_gradient<outer>(objective, at); },
                              Point<1, double>{w0})[0];
    });
    return {w, std::move(ns)};
}

}  // namespace

extern const Module particle_module{"particle",
                                    {{"rr", run<Mode::reverse, Mode::reverse>},
                                     {"rf", run<Mode::reverse, Mode::forward>},
                                     {"fr", run<Mode::forward, Mode::reverse>},
                                     {"ff", run<Mode::forward, Mode::forward>}},
                                    {}};

}  // namespace gradbench
