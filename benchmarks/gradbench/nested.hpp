#pragma once
// What particle and saddle share: gradient descent as every GradBench C++
// tool runs it (gd.hpp's rule), and gradients taken in forward or reverse
// mode on numbers that may themselves be differentiated again (nested
// differentiation). The number types:
//   double            plain evaluation;
//   ag::Value         recorded, for an outer reverse-mode derivative;
//   ag::Dual<double>  an outer forward-mode derivative (value and tangent).
// An inner gradient on these gives numbers of the same type, so the outer
// derivative goes through it:
//   forward inside:  ag::derivative on Dual<T> (Dual<Dual<double>> for ff,
//                    Dual<Value> for rf), one pass per variable;
//   reverse inside:  on Values, ag::grad (with ag::create_graph when the
//                    outer is reverse too, rr); under an outer forward
//                    derivative (fr) the function runs on Dual<Value>
//                    numbers whose values are leaves, and two sweeps give
//                    the gradient (of the values) and its tangent (the
//                    gradient of the tangents), i.e. forward over reverse.
#include "gradbench.hpp"

#include <autograd/dual.hpp>

#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

namespace gradbench::nested {

enum class Mode { forward, reverse };

template <std::size_t N, class T>
using Point = std::array<T, N>;

template <std::size_t N, class T>
std::array<double, N> primals(const Point<N, T>& x) {
    std::array<double, N> out{};
    for (std::size_t i = 0; i < N; ++i) out[i] = ag::primal(x[i]);
    return out;
}

// ∂f/∂x at x, f(x, params) a generic callable on one number type; the result
// is of the type of x (itself differentiable when x is a Value or a Dual).
template <Mode mode, std::size_t N, std::size_t P, class T, class F>
Point<N, T> gradient(const F& f, const Point<N, T>& x, const Point<P, T>& params) {
    Point<N, T> g{};
    if constexpr (mode == Mode::forward) {
        using D = ag::Dual<T>;
        Point<P, D> p{};
        for (std::size_t j = 0; j < P; ++j) p[j] = D(params[j]);
        for (std::size_t i = 0; i < N; ++i) {
            g[i] = ag::derivative(
                [&](const D& xi) {
                    Point<N, D> at{};
                    for (std::size_t j = 0; j < N; ++j) at[j] = j == i ? xi : D(x[j]);
                    return f(at, p);
                },
                x[i]);
        }
    } else if constexpr (std::is_same_v<T, double>) {
        ag::Scope scope;
        Point<N, ag::Value> at{};
        Point<P, ag::Value> p{};
        for (std::size_t j = 0; j < N; ++j) at[j] = ag::Value(x[j]);
        for (std::size_t j = 0; j < P; ++j) p[j] = ag::Value(params[j]);
        const std::vector<double> d = ag::grad(f(at, p), std::vector<ag::Value>(at.begin(), at.end()));
        for (std::size_t i = 0; i < N; ++i) g[i] = d[i];
    } else if constexpr (std::is_same_v<T, ag::Value>) {
        const std::vector<ag::Value> d =
            ag::grad(f(x, params), std::vector<ag::Value>(x.begin(), x.end()), ag::create_graph);
        for (std::size_t i = 0; i < N; ++i) g[i] = d[i];
    } else {
        static_assert(std::is_same_v<T, ag::Dual<double>>, "reverse inside: double, Value or Dual<double>");
        using D = ag::Dual<ag::Value>;
        ag::Scope scope;
        Point<N, D> at{};
        Point<P, D> p{};
        std::vector<ag::Value> values;
        for (std::size_t j = 0; j < N; ++j) {
            at[j] = D(ag::Value(x[j].value), ag::Value(x[j].tangent));
            values.push_back(at[j].value);
        }
        for (std::size_t j = 0; j < P; ++j) p[j] = D(ag::Value(params[j].value), ag::Value(params[j].tangent));
        const D y = f(at, p);
        const std::vector<double> value = ag::grad(y.value, values), tangent = ag::grad(y.tangent, values);
        for (std::size_t i = 0; i < N; ++i) g[i] = T(value[i], tangent[i]);
    }
    return g;
}

// The minimum of f from `start` by gradient descent, GradBench's rule
// (gd.hpp): step size η = 1e-5; stop when ‖g‖ ≤ 1e-5 or a step would move
// x by ≤ 1e-5; a step is taken only if it lowers f (after 10 such steps in
// a row η doubles), otherwise η halves. Decisions look at primal values;
// the arithmetic is in T, so an outer derivative goes through the descent.
template <std::size_t N, class T, class Objective, class Gradient>
Point<N, T> argmin(const Objective& f, const Gradient& grad, Point<N, T> x) {
    const auto norm = [](const std::array<double, N>& v) {
        double s = 0;
        for (const double e : v) s += e * e;
        return std::sqrt(s);
    };
    T fx = f(x);
    Point<N, T> gx = grad(x);
    int accepted = 0;
    double eta = 1e-5;
    while (true) {
        if (norm(primals(gx)) <= 1e-5) return x;
        if (accepted == 10) {
            eta *= 2;
            accepted = 0;
            continue;
        }
        Point<N, T> next{};
        std::array<double, N> moved{};
        for (std::size_t i = 0; i < N; ++i) {
            next[i] = x[i] - eta * gx[i];
            moved[i] = ag::primal(next[i]) - ag::primal(x[i]);
        }
        if (norm(moved) <= 1e-5) return x;
        T f_next = f(next);
        if (ag::primal(f_next) < ag::primal(fx)) {
            x = std::move(next);
            fx = std::move(f_next);
            gx = grad(x);
            ++accepted;
        } else {
            eta /= 2;
            accepted = 0;
        }
    }
}

// The outer derivative: ∂f/∂x of a function of N doubles, in `mode`, f
// generic in its number type (double, Value, Dual<double>).
template <Mode mode, std::size_t N, class F>
std::array<double, N> outer_gradient(const F& f, const std::array<double, N>& x) {
    std::array<double, N> g{};
    if constexpr (mode == Mode::forward) {
        using D = ag::Dual<double>;
        for (std::size_t i = 0; i < N; ++i) {
            Point<N, D> at{};
            for (std::size_t j = 0; j < N; ++j) at[j] = D(x[j], i == j ? 1.0 : 0.0);
            g[i] = f(at).tangent;
        }
    } else {
        ag::Scope scope;
        Point<N, ag::Value> at{};
        for (std::size_t j = 0; j < N; ++j) at[j] = ag::Value(x[j]);
        const std::vector<double> d = ag::grad(f(at), std::vector<ag::Value>(at.begin(), at.end()));
        for (std::size_t i = 0; i < N; ++i) g[i] = d[i];
    }
    return g;
}

}  // namespace gradbench::nested
