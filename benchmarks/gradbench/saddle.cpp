// saddle (Pearlmutter and Siskind): min over x ∈ R² of max over y ∈ R² of
// f(x, y) = (x₁² + x₂²) − (y₁² + y₂²), both by gradient descent from the
// input's start; the output is x*, then y* = argmax_y f(x*, y). The outer
// objective max_y f(x, y) runs the inner ascent on x's own number type, so
// the outer derivative goes through the whole inner descent (nested
// differentiation). The function's letters name the modes: outer, then
// inner (rr, rf, fr, ff; see nested.hpp). The final argmax uses the outer
// one, as GradBench's description asks.
//
// GradBench's text writes f as (x₁² + y₁²) − (x₂² + y₂²), but its reference
// objective(x1, y1, x2, y2) is called with the point x as its first two
// arguments and y as its last two, which gives the f above; read the text's
// way, max over y is unbounded (y₁² grows without end).
#include "nested.hpp"

#include <fmt/format.h>

namespace gradbench {

namespace {

using nested::Mode;
using nested::Point;

template <class T>
T f(const Point<2, T>& x, const Point<2, T>& y) {
    return (x[0] * x[0] + x[1] * x[1]) - (y[0] * y[0] + y[1] * y[1]);
}

// max_y f(x, y) is min_y −f(x, y).
const auto negated_f = [](const auto& y, const auto& x) { return -f(x, y); };

template <Mode mode, class T>
Point<2, T> argmax_y(const Point<2, T>& x, const std::array<double, 2>& start) {
    const Point<2, T> from = {T(start[0]), T(start[1])};
    return nested::argmin<2>([&](const Point<2, T>& y) { return negated_f(y, x); },
                             [&](const Point<2, T>& y) { return nested::gradient<mode>(negated_f, y, x); }, from);
}

template <Mode outer, Mode inner>
std::vector<double> saddle(const std::array<double, 2>& start) {
    const auto max_over_y = [&](const auto& x) { return f(x, argmax_y<inner>(x, start)); };
    const std::array<double, 2> x = nested::argmin<2>(
        [&](const Point<2, double>& at) { return max_over_y(at); },
        [&](const Point<2, double>& at) { return nested::outer_gradient<outer>(max_over_y, at); }, start);
    const std::array<double, 2> y = argmax_y<outer, double>(x, start);
    return {x[0], x[1], y[0], y[1]};
}

template <Mode outer, Mode inner>
Evaluation run(const json& in) {
    const std::vector<double> s = numbers(member(in, "start", "saddle input"), "saddle input.start", 2);
    const std::array<double, 2> start = {s[0], s[1]};
    std::vector<double> out;
    auto ns = run_timed(runs_of(in), [&] { out = saddle<outer, inner>(start); });
    return {out, std::move(ns)};
}

}  // namespace

extern const Module saddle_module{"saddle",
                                  {{"rr", run<Mode::reverse, Mode::reverse>},
                                   {"rf", run<Mode::reverse, Mode::forward>},
                                   {"fr", run<Mode::forward, Mode::reverse>},
                                   {"ff", run<Mode::forward, Mode::forward>}},
                                  {}};

}  // namespace gradbench
