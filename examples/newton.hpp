#pragma once
// Example 8: Newton's method beside gradient descent on the Rosenbrock
// function, from the classic start (-1.2, 1):
//
//   f(x, y) = (1 - x)^2 + 100 (y - x^2)^2,   minimum f(1, 1) = 0.
//
// By hand:
//   grad f = ( -2 (1 - x) - 400 x (y - x^2),  200 (y - x^2) )
//   H      = [ 1200 x^2 - 400 y + 2    -400 x ]
//            [ -400 x                   200   ]
//
// Newton's method takes x <- x - H^-1 grad f with the exact Hessian from
// the engine (ag::hessian: the gradient recorded as Values, then one reverse
// sweep per input over it) at every step. Gradient descent takes
// x <- x - eta grad f with a fixed step eta. The comparison teaches three
// things, all read off the Hessian:
//   - Newton needs a handful of steps (quadratic convergence at the end),
//     though it is not a descent method: one step raises f a thousandfold;
//   - gradient descent converges linearly, at the rate set by the smallest
//     eigenvalue of H at the minimum: each step shrinks the error along the
//     valley by 1 - eta lambda_min, so it needs tens of thousands of steps;
//   - its step must stay below 2 / lambda_max: just above it, it never
//     converges and ends bouncing between two points across the valley.
// The function is written with products only (no pow), so every figure is
// the same IEEE double computation on any x86-64 machine.
#include <autograd/autograd.hpp>

#include <fmt/format.h>

#include <array>
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace examples {

// For doubles and for ag::Value.
template <class T>
T rosenbrock(const T& x, const T& y) {
    const T a = 1.0 - x;
    const T b = y - x * x;
    return a * a + 100.0 * (b * b);
}

inline std::array<double, 2> rosenbrock_gradient_by_hand(double x, double y) {
    return {-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)};
}

inline ag::Matrix rosenbrock_hessian_by_hand(double x, double y) {
    return {{1200 * x * x - 400 * y + 2, -400 * x}, {-400 * x, 200.0}};
}

// Eigenvalues of a symmetric 2x2 matrix, largest first. The smaller one as
// det / largest: m - r would cancel when the two are far apart (at the
// minimum they are 1001.6 and 0.3995).
inline std::array<double, 2> symmetric_eigenvalues(const ag::Matrix& h) {
    const double m = 0.5 * (h[0][0] + h[1][1]);
    const double r = std::hypot(0.5 * (h[0][0] - h[1][1]), h[0][1]);
    const double big = m >= 0 ? m + r : m - r;
    const double det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
    const double other = big != 0 ? det / big : 0.0;
    return big >= other ? std::array<double, 2>{big, other} : std::array<double, 2>{other, big};
}

struct NewtonSettings {
    double start_x = -1.2, start_y = 1.0;
    double tolerance = 1e-10;              // stop when |grad f| < tolerance
    int newton_cap = 50;                   // most Newton steps taken
    double descent_step = 1e-3;            // eta of the converging gradient descent
    double descent_step_too_large = 2e-3;  // eta just above 2 / lambda_max at the minimum
    int descent_cap = 100000;              // most gradient-descent steps taken
};

// One iterate: the point, f, and the gradient from the engine.
struct Iterate {
    int step = 0;
    double x = 0, y = 0;
    double f = 0;
    std::array<double, 2> grad{};
    double grad_norm = 0;
};

struct NewtonIterate {
    Iterate at;
    // The Hessian where a Newton step was taken from this iterate (empty at
    // the last iterate): from the engine, and from the formula above.
    ag::Matrix hessian, hessian_by_hand;
    std::array<double, 2> eigenvalues{};
    double hessian_error = 0;  // largest |engine - by hand| / largest |by hand|
};

struct NewtonRun {
    std::vector<NewtonIterate> iterates;  // every one, from step 0
    int steps = 0;                        // updates made
    bool converged = false;
    std::string stopped;  // why, when it did not converge
};

struct DescentRun {
    double step_size = 0;
    int steps = 0;  // updates made
    bool converged = false;
    std::string stopped;
    std::vector<Iterate> printed;  // steps 0..5, 1, 2 and 5 times powers of ten, and the last
    Iterate last, second_last, third_last;
    // It ended bouncing between two points: iterate k equals iterate k - 2
    // (to 1e-9 of the jump between k - 1 and k) and not k - 1.
    bool two_cycle = false;
    Iterate smallest_gradient;  // the iterate with the smallest |grad| met
    // Steps per tenfold fall of |grad| over the last four such falls (0
    // unless it converged through at least five of them).
    double steps_per_decade = 0;
    // For the pictures: the path thinned to what shows, |grad| at
    // geometrically spaced steps.
    std::vector<std::array<double, 2>> path;
    std::vector<std::array<double, 2>> grad_curve;  // {step, |grad|}
};

struct NewtonFigures {
    NewtonSettings settings;
    NewtonRun newton;
    DescentRun descent, descent_too_large;
    // At the minimum (1, 1), from the engine.
    ag::Matrix hessian_at_minimum;
    std::array<double, 2> eigenvalues_at_minimum{};
    double largest_stable_step = 0;  // 2 / lambda_max
    // ln 10 / -ln(1 - eta lambda_min): steps per tenfold fall of the error
    // along the valley, for the converging descent's eta.
    double predicted_steps_per_decade = 0;
    int gradients_newton = 0, hessians_newton = 0, gradients_descent = 0;
};

namespace newton_detail {

inline ag::Value rosenbrock_of(const std::vector<ag::Value>& v) { return rosenbrock(v[0], v[1]); }

inline Iterate evaluate(int step, double x, double y) {
    ag::Scope scope;  // frees this evaluation's nodes
    const std::vector<ag::Value> v = {ag::Value(x), ag::Value(y)};
    const ag::Value f = rosenbrock_of(v);
    const std::vector<double> g = ag::grad(f, v);
    return {step, x, y, f.data(), {g[0], g[1]}, std::hypot(g[0], g[1])};
}

inline bool printed_step(int k) {
    if (k <= 5) return true;
    for (int p = 10; p > 0 && p / 10 <= k; p *= 10)
        if (k == p || k == 2 * p || k == 5 * p) return true;
    return false;
}

inline std::string point(double x, double y) { return fmt::format("({:.17g}, {:.17g})", x, y); }

}  // namespace newton_detail

inline NewtonRun newton_run(const NewtonSettings& s, int* gradients = nullptr, int* hessians = nullptr) {
    NewtonRun run;
    double x = s.start_x, y = s.start_y;
    for (int k = 0;; ++k) {
        NewtonIterate it{newton_detail::evaluate(k, x, y), {}, {}, {}, 0};
        if (gradients) ++*gradients;
        if (!std::isfinite(it.at.f) || !std::isfinite(it.at.grad_norm)) {
            run.stopped = fmt::format("f or its gradient is not finite at step {}", k);
            run.iterates.push_back(it);
            break;
        }
        if (it.at.grad_norm < s.tolerance) {
            run.converged = true;
            run.iterates.push_back(it);
            break;
        }
        if (k == s.newton_cap) {
            run.stopped = fmt::format("the cap of {} Newton steps was reached", s.newton_cap);
            run.iterates.push_back(it);
            break;
        }
        const ag::Matrix h = ag::hessian(newton_detail::rosenbrock_of, {x, y});
        if (hessians) ++*hessians;
        it.hessian = h;
        it.hessian_by_hand = rosenbrock_hessian_by_hand(x, y);
        it.eigenvalues = symmetric_eigenvalues(h);
        double scale = 0, error = 0;
        for (int i = 0; i < 2; ++i)
            for (int j = 0; j < 2; ++j) {
                scale = std::max(scale, std::fabs(it.hessian_by_hand[i][j]));
                error = std::max(error, std::fabs(h[i][j] - it.hessian_by_hand[i][j]));
            }
        it.hessian_error = scale > 0 ? error / scale : error;
        run.iterates.push_back(it);
        // Solve H d = grad (2x2, Cramer's rule), then x <- x - d.
        const double det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        if (det == 0 || !std::isfinite(det)) {
            run.stopped = fmt::format("the Hessian at {} is singular (det = {}): no Newton step",
                                      newton_detail::point(x, y), det);
            break;
        }
        const auto& g = it.at.grad;
        x -= (h[1][1] * g[0] - h[0][1] * g[1]) / det;
        y -= (h[0][0] * g[1] - h[1][0] * g[0]) / det;
        run.steps = k + 1;
    }
    return run;
}

inline DescentRun descent_run(const NewtonSettings& s, double eta, int* gradients = nullptr) {
    DescentRun run;
    run.step_size = eta;
    double x = s.start_x, y = s.start_y;
    std::map<int, int> first_below;  // d -> the first step with |grad| < 10^-d
    double next_curve_step = 0;
    std::array<double, 2> last_drawn = {x, y};
    for (int k = 0;; ++k) {
        const Iterate it = newton_detail::evaluate(k, x, y);
        if (gradients) ++*gradients;
        if (k == 0 || it.grad_norm < run.smallest_gradient.grad_norm) run.smallest_gradient = it;
        run.third_last = run.second_last;
        run.second_last = run.last;
        run.last = it;
        const bool finite = std::isfinite(it.f) && std::isfinite(it.grad_norm);
        const bool done = !finite || it.grad_norm < s.tolerance || k == s.descent_cap;
        if (newton_detail::printed_step(k) || done) run.printed.push_back(it);
        if (finite && it.grad_norm > 0)
            for (int d = static_cast<int>(std::floor(-std::log10(it.grad_norm))); d > -20; --d)
                if (!first_below.try_emplace(d, k).second) break;
        if (k >= next_curve_step || done) {
            run.grad_curve.push_back({static_cast<double>(k), it.grad_norm});
            next_curve_step = std::max(next_curve_step + 1, std::floor(next_curve_step * 1.03));
        }
        // A point of the path when it has moved visibly, and the first 50.
        if (k < 50 || std::hypot(x - last_drawn[0], y - last_drawn[1]) > 0.01 || done) {
            run.path.push_back({x, y});
            last_drawn = {x, y};
        }
        if (!finite) {
            run.stopped = fmt::format("f or its gradient is not finite at step {}: eta = {} diverges", k, eta);
            break;
        }
        if (it.grad_norm < s.tolerance) {
            run.converged = true;
            break;
        }
        if (k == s.descent_cap) {
            run.stopped = fmt::format("the cap of {} steps was reached", s.descent_cap);
            break;
        }
        x -= eta * it.grad[0];
        y -= eta * it.grad[1];
        run.steps = k + 1;
    }
    if (!run.converged && run.steps >= 2) {
        const double jump = std::hypot(run.last.x - run.second_last.x, run.last.y - run.second_last.y);
        const double back = std::hypot(run.last.x - run.third_last.x, run.last.y - run.third_last.y);
        run.two_cycle = jump > 0 && back <= 1e-9 * jump;
    }
    // The linear rate, over the last four tenfold falls of |grad|.
    if (run.converged && !first_below.empty()) {
        const int last = first_below.rbegin()->first;
        const auto from = first_below.find(last - 4);
        if (from != first_below.end()) run.steps_per_decade = (first_below[last] - from->second) / 4.0;
    }
    return run;
}

inline NewtonFigures newton_example(const NewtonSettings& s = {}) {
    NewtonFigures r;
    r.settings = s;
    r.newton = newton_run(s, &r.gradients_newton, &r.hessians_newton);
    r.descent = descent_run(s, s.descent_step, &r.gradients_descent);
    r.descent_too_large = descent_run(s, s.descent_step_too_large);
    r.hessian_at_minimum = ag::hessian(newton_detail::rosenbrock_of, {1.0, 1.0});
    r.eigenvalues_at_minimum = symmetric_eigenvalues(r.hessian_at_minimum);
    r.largest_stable_step = 2 / r.eigenvalues_at_minimum[0];
    r.predicted_steps_per_decade = std::log(10.0) / -std::log1p(-s.descent_step * r.eigenvalues_at_minimum[1]);
    return r;
}

}  // namespace examples
