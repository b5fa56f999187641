// Derivatives of derivatives on the scalar engine: every op's second
// derivative against its hand-derived formula and against central
// differences of the first derivative; reverse over reverse, forward over
// forward, forward over reverse, reverse over forward; perturbation
// confusion in all four nestings; Hessians, Jacobians and their products;
// Newton's method; a gradient penalty.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

using ag::Dual;
using ag::Value;

namespace {

double sig(double x) { return 1 / (1 + std::exp(-x)); }

// f, f' and f'' by hand, and the points (kinks included) to check.
struct Unary {
    std::string name;
    std::function<Value(const Value&)> f;
    std::function<double(double)> d1, d2;
    std::vector<double> points;
    std::vector<double> kinks = {};  // points where f' jumps: no differences there
};

std::vector<Unary> unary() {
    const std::vector<double> any = {-1.7, -0.3, 0.6, 2.1};
    const std::vector<double> pos = {0.3, 1.1, 2.5};
    auto t = [](double x) { return std::tanh(x); };
    return {
        {"neg", [](const Value& a) { return -a; }, [](double) { return -1.0; }, [](double) { return 0.0; }, any},
        {"exp", [](const Value& a) { return ag::exp(a); }, [](double x) { return std::exp(x); },
         [](double x) { return std::exp(x); }, any},
        {"log", [](const Value& a) { return ag::log(a); }, [](double x) { return 1 / x; },
         [](double x) { return -1 / (x * x); }, pos},
        {"sqrt", [](const Value& a) { return ag::sqrt(a); }, [](double x) { return 0.5 / std::sqrt(x); },
         [](double x) { return -0.25 * std::pow(x, -1.5); }, pos},
        {"tanh", [](const Value& a) { return ag::tanh(a); }, [=](double x) { return 1 - t(x) * t(x); },
         [=](double x) { return -2 * t(x) * (1 - t(x) * t(x)); }, any},
        {"sigmoid", [](const Value& a) { return ag::sigmoid(a); }, [](double x) { return sig(x) * (1 - sig(x)); },
         [](double x) { return sig(x) * (1 - sig(x)) * (1 - 2 * sig(x)); }, any},
        // relu and abs: piecewise linear, second derivative 0 everywhere (their kink at 0 included).
        {"relu",
         [](const Value& a) { return ag::relu(a); },
         [](double x) { return x > 0 ? 1.0 : 0.0; },
         [](double) { return 0.0; },
         {-1.0, 0.0, 1.5},
         {0.0}},
        {"abs",
         [](const Value& a) { return ag::abs(a); },
         [](double x) { return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0); },
         [](double) { return 0.0; },
         {-1.0, 0.0, 1.5},
         {0.0}},
        {"sin", [](const Value& a) { return ag::sin(a); }, [](double x) { return std::cos(x); },
         [](double x) { return -std::sin(x); }, any},
        {"cos", [](const Value& a) { return ag::cos(a); }, [](double x) { return -std::sin(x); },
         [](double x) { return -std::cos(x); }, any},
        {"pow(a, 3)",
         [](const Value& a) { return ag::pow(a, 3.0); },
         [](double x) { return 3 * x * x; },
         [](double x) { return 6 * x; },
         {-1.2, 0.0, 0.7}},
        {"pow(a, -1.5)", [](const Value& a) { return ag::pow(a, -1.5); },
         [](double x) { return -1.5 * std::pow(x, -2.5); }, [](double x) { return 3.75 * std::pow(x, -3.5); }, pos},
        {"pow(2.5, a)", [](const Value& a) { return ag::pow(2.5, a); },
         [](double x) { return std::pow(2.5, x) * std::log(2.5); },
         [](double x) { return std::pow(2.5, x) * std::log(2.5) * std::log(2.5); }, any},
        {"a + 3", [](const Value& a) { return a + 3.0; }, [](double) { return 1.0; }, [](double) { return 0.0; }, any},
        {"3 - a", [](const Value& a) { return 3.0 - a; }, [](double) { return -1.0; }, [](double) { return 0.0; }, any},
        {"a * 3", [](const Value& a) { return a * 3.0; }, [](double) { return 3.0; }, [](double) { return 0.0; }, any},
        {"a / 3", [](const Value& a) { return a / 3.0; }, [](double) { return 1 / 3.0; }, [](double) { return 0.0; },
         any},
        {"3 / a", [](const Value& a) { return 3.0 / a; }, [](double x) { return -3 / (x * x); },
         [](double x) { return 6 / (x * x * x); }, any},
        {"tan",
         [](const Value& a) { return ag::tan(a); },
         [](double x) { return 1 + std::tan(x) * std::tan(x); },
         [](double x) { return 2 * std::tan(x) * (1 + std::tan(x) * std::tan(x)); },
         {-1.0, 0.3, 1.2}},
        {"atan", [](const Value& a) { return ag::atan(a); }, [](double x) { return 1 / (1 + x * x); },
         [](double x) { return -2 * x / ((1 + x * x) * (1 + x * x)); }, any},
        {"sinh", [](const Value& a) { return ag::sinh(a); }, [](double x) { return std::cosh(x); },
         [](double x) { return std::sinh(x); }, any},
        {"cosh", [](const Value& a) { return ag::cosh(a); }, [](double x) { return std::sinh(x); },
         [](double x) { return std::cosh(x); }, any},
        {"log1p",
         [](const Value& a) { return ag::log1p(a); },
         [](double x) { return 1 / (1 + x); },
         [](double x) { return -1 / ((1 + x) * (1 + x)); },
         {-0.5, 0.2, 3.0}},
        {"expm1", [](const Value& a) { return ag::expm1(a); }, [](double x) { return std::exp(x); },
         [](double x) { return std::exp(x); }, any},
        {"erf", [](const Value& a) { return ag::erf(a); },
         [](double x) { return 2 / std::sqrt(M_PI) * std::exp(-x * x); },
         [](double x) { return -4 * x / std::sqrt(M_PI) * std::exp(-x * x); }, any},
        {"softplus", [](const Value& a) { return ag::softplus(a); }, [](double x) { return sig(x); },
         [](double x) { return sig(x) * (1 - sig(x)); }, any},
        {"gelu", [](const Value& a) { return ag::gelu(a); },
         [](double x) {
             return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) + x * std::exp(-x * x / 2) / std::sqrt(2 * M_PI);
         },
         [](double x) { return std::exp(-x * x / 2) / std::sqrt(2 * M_PI) * (2 - x * x); }, any},
        // Piecewise linear: second derivative 0, at the kinks too.
        {"leaky_relu",
         [](const Value& a) { return ag::leaky_relu(a, 0.1); },
         [](double x) { return x > 0 ? 1.0 : 0.1; },
         [](double) { return 0.0; },
         {-1.0, 0.0, 1.5},
         {0.0}},
        {"clamp",
         [](const Value& a) { return ag::clamp(a, -0.5, 0.5); },
         [](double x) { return x >= -0.5 && x <= 0.5 ? 1.0 : 0.0; },
         [](double) { return 0.0; },
         {-1.0, -0.5, 0.2, 0.5, 1.5},
         {-0.5, 0.5}},
    };
}

struct Binary {
    std::string name;
    std::function<Value(const Value&, const Value&)> f;
    // d2f/da2, d2f/dadb, d2f/db2
    std::function<double(double, double)> aa, ab, bb;
    std::vector<std::pair<double, double>> points;
};

std::vector<Binary> binary() {
    const std::vector<std::pair<double, double>> pts = {{-1.3, 0.6}, {0.8, 2.1}, {2.2, -0.9}};
    const std::vector<std::pair<double, double>> pos = {{0.3, 0.6}, {1.8, 2.1}, {2.2, -0.9}};
    auto zero = [](double, double) { return 0.0; };
    return {
        {"+", [](const Value& a, const Value& b) { return a + b; }, zero, zero, zero, pts},
        {"-", [](const Value& a, const Value& b) { return a - b; }, zero, zero, zero, pts},
        {"*", [](const Value& a, const Value& b) { return a * b; }, zero, [](double, double) { return 1.0; }, zero,
         pts},
        {"/", [](const Value& a, const Value& b) { return a / b; }, zero, [](double, double b) { return -1 / (b * b); },
         [](double a, double b) { return 2 * a / (b * b * b); }, pts},
        {"pow", [](const Value& a, const Value& b) { return ag::pow(a, b); },
         [](double a, double b) { return b * (b - 1) * std::pow(a, b - 2); },
         [](double a, double b) { return std::pow(a, b - 1) * (1 + b * std::log(a)); },
         [](double a, double b) { return std::pow(a, b) * std::log(a) * std::log(a); }, pos},
        // min and max: second derivatives 0, also at a tie (their kink).
        {"min",
         [](const Value& a, const Value& b) { return ag::min(a, b); },
         zero,
         zero,
         zero,
         {{1.0, 2.0}, {1.5, 1.5}}},
        {"max",
         [](const Value& a, const Value& b) { return ag::max(a, b); },
         zero,
         zero,
         zero,
         {{1.0, 2.0}, {1.5, 1.5}}},
    };
}

// d/dx of the engine's first derivative, by central differences.
double fd_of_gradient(const std::function<Value(const Value&)>& f, double x) {
    auto d1 = [&](double at) {
        ag::Scope s;
        Value v = at;
        return ag::grad(f(v), {v})[0];
    };
    const double h = 1e-5 * std::max(1.0, std::fabs(x));
    return (d1(x + h) - d1(x - h)) / (2 * h);
}

}  // namespace

TEST_CASE("every unary op: second derivative, reverse over reverse, equals the hand formula and differences of f'") {
    for (const auto& c : unary()) {
        for (double x0 : c.points) {
            CAPTURE(c.name);
            CAPTURE(x0);
            ag::Scope scope;
            Value x = x0;
            const std::vector<Value> g = ag::grad(c.f(x), {x}, ag::create_graph);
            CHECK(g[0].data() == doctest::Approx(c.d1(x0)).epsilon(1e-13));
            const double d2 = ag::grad(g[0], {x})[0];
            CHECK(d2 == doctest::Approx(c.d2(x0)).epsilon(1e-12).scale(1));
            // Away from kinks, central differences of the engine's f'.
            if (std::find(c.kinks.begin(), c.kinks.end(), x0) == c.kinks.end())
                CHECK(d2 == doctest::Approx(fd_of_gradient(c.f, x0)).epsilon(1e-5).scale(1));
        }
    }
}

TEST_CASE("every binary op: the three second derivatives equal the hand formulas") {
    for (const auto& c : binary()) {
        for (auto [a0, b0] : c.points) {
            CAPTURE(c.name);
            CAPTURE(a0);
            CAPTURE(b0);
            auto f = [&](const std::vector<Value>& v) { return c.f(v[0], v[1]); };
            const ag::Matrix h = ag::hessian(f, {a0, b0});
            CHECK(h[0][0] == doctest::Approx(c.aa(a0, b0)).epsilon(1e-12).scale(1));
            CHECK(h[0][1] == doctest::Approx(c.ab(a0, b0)).epsilon(1e-12).scale(1));
            CHECK(h[1][0] == doctest::Approx(c.ab(a0, b0)).epsilon(1e-12).scale(1));
            CHECK(h[1][1] == doctest::Approx(c.bb(a0, b0)).epsilon(1e-12).scale(1));
        }
    }
}

TEST_CASE("forward mode: first and second derivatives with ag::Dual, the same rules") {
    // The ops themselves on Duals: forward over forward gives f' and f''.
    auto check = [](auto f, double x0, double d1, double d2) {
        CAPTURE(x0);
        CHECK(ag::derivative(f, x0) == doctest::Approx(d1).epsilon(1e-14));
        CHECK(ag::derivative([&](auto x) { return ag::derivative(f, x); }, x0) == doctest::Approx(d2).epsilon(1e-13));
    };
    const double x0 = 0.7, tt = std::tanh(x0);
    check([](auto x) { return ag::exp(x) * ag::sin(x); }, x0, std::exp(x0) * (std::sin(x0) + std::cos(x0)),
          2 * std::exp(x0) * std::cos(x0));
    check([](auto x) { return ag::tanh(x); }, x0, 1 - tt * tt, -2 * tt * (1 - tt * tt));
    check([](auto x) { return ag::log(x) / x; }, x0, (1 - std::log(x0)) / (x0 * x0),
          (2 * std::log(x0) - 3) / std::pow(x0, 3));
    check([](auto x) { return ag::pow(x, 2.5) - 3.0 * ag::sqrt(x); }, x0, 2.5 * std::pow(x0, 1.5) - 1.5 / std::sqrt(x0),
          3.75 * std::sqrt(x0) + 0.75 * std::pow(x0, -1.5));
    check([](auto x) { return ag::sigmoid(x) + ag::cos(x) * x; }, x0,
          sig(x0) * (1 - sig(x0)) + std::cos(x0) - x0 * std::sin(x0),
          sig(x0) * (1 - sig(x0)) * (1 - 2 * sig(x0)) - 2 * std::sin(x0) - x0 * std::cos(x0));
    check([](auto x) { return ag::max(x, 1.0 - x) + 2.0 / x; }, x0, 1 - 2 / (x0 * x0), 4 / std::pow(x0, 3));
    // Kinks keep the first-order conventions: relu'(0) = abs'(0) = 0.
    check([](auto x) { return ag::relu(x) + ag::abs(x) - x; }, 0.0, -1.0, 0.0);
    // Forward over reverse: the tangent is a Value, differentiated again.
    ag::Scope scope;
    Value x = x0;
    const Value d = ag::derivative([](auto u) { return ag::exp(u) * ag::sin(u); }, x);
    CHECK(d.data() == doctest::Approx(std::exp(x0) * (std::sin(x0) + std::cos(x0))).epsilon(1e-14));
    CHECK(ag::grad(d, {x})[0] == doctest::Approx(2 * std::exp(x0) * std::cos(x0)).epsilon(1e-14));
}

TEST_CASE("perturbation confusion: d/dx [x * (d/dy (x + y) at y = 1)] at x = 1 is 1 in all four nestings") {
    // forward outside, forward inside
    const double ff =
        ag::derivative([](auto x) { return x * ag::derivative([&](auto y) { return x + y; }, decltype(x)(1.0)); }, 1.0);
    CHECK(ff == 1.0);
    // reverse outside, reverse inside
    {
        ag::Scope scope;
        Value x = 1.0;
        Value y = 1.0;
        const Value inner = ag::grad(x + y, {y}, ag::create_graph)[0];
        CHECK(ag::grad(x * inner, {x})[0] == 1.0);
    }
    // forward outside, reverse inside
    {
        ag::Scope scope;
        const double fr = ag::derivative(
            [](const Dual<double>& x) {
                Value y = 1.0;
                const auto s = x + y;  // a Dual<Value>
                const Dual<double> inner(ag::grad(s.value, {y})[0], ag::grad(s.tangent, {y})[0]);
                return x * inner;
            },
            1.0);
        CHECK(fr == 1.0);
    }
    // reverse outside, forward inside
    {
        ag::Scope scope;
        Value x = 1.0;
        const Value inner = ag::derivative([&](const auto& y) { return x + y; }, Value(1.0));
        CHECK(ag::grad(x * inner, {x})[0] == 1.0);
    }
}

TEST_CASE("the third derivative of a polynomial, exactly, by reverse and by forward mode") {
    // f = x^4 - 3x^3 + 2x: f''' = 24x - 18.
    auto f = [](auto x) { return x * x * x * x - 3.0 * x * x * x + 2.0 * x; };
    for (double x0 : {-2.0, 0.5, 1.5, 3.0}) {
        CAPTURE(x0);
        ag::Scope scope;
        Value x = x0;
        const Value d1 = ag::grad(f(x), {x}, ag::create_graph)[0];
        const Value d2 = ag::grad(d1, {x}, ag::create_graph)[0];
        const double d3 = ag::grad(d2, {x})[0];
        CHECK(d1.data() == 4 * x0 * x0 * x0 - 9 * x0 * x0 + 2);
        CHECK(d2.data() == 12 * x0 * x0 - 18 * x0);
        CHECK(d3 == 24 * x0 - 18);
        const double fff =
            ag::derivative([&](auto a) { return ag::derivative([&](auto b) { return ag::derivative(f, b); }, a); }, x0);
        CHECK(fff == 24 * x0 - 18);
    }
}

TEST_CASE("the Rosenbrock function's Hessian in closed form") {
    // f = (1 - x)^2 + 100 (y - x^2)^2
    auto f = [](const std::vector<Value>& v) {
        return ag::pow(1.0 - v[0], 2.0) + 100.0 * ag::pow(v[1] - v[0] * v[0], 2.0);
    };
    for (auto [x, y] : std::vector<std::pair<double, double>>{{-1.2, 1.0}, {1.0, 1.0}, {0.3, -0.4}}) {
        CAPTURE(x);
        CAPTURE(y);
        const ag::Matrix h = ag::hessian(f, {x, y});
        CHECK(h[0][0] == doctest::Approx(2 - 400 * (y - x * x) + 800 * x * x).epsilon(1e-13));
        CHECK(h[0][1] == doctest::Approx(-400 * x).epsilon(1e-13));
        CHECK(h[1][0] == doctest::Approx(-400 * x).epsilon(1e-13));
        CHECK(h[1][1] == doctest::Approx(200.0).epsilon(1e-13));
        const std::vector<double> v = {0.7, -1.3};
        const std::vector<double> hv = ag::hvp(f, {x, y}, v);
        CHECK(hv[0] == doctest::Approx(h[0][0] * v[0] + h[0][1] * v[1]).epsilon(1e-13));
        CHECK(hv[1] == doctest::Approx(h[1][0] * v[0] + h[1][1] * v[1]).epsilon(1e-13));
    }
}

TEST_CASE("the 2-2-2 sigmoid network's loss Hessian in its 8 weights against differences of the gradient") {
    // Mazur's walkthrough network: inputs 0.05, 0.10; targets 0.01, 0.99; biases 0.35, 0.60.
    auto loss = [](const std::vector<Value>& w) {
        const Value h1 = ag::sigmoid(w[0] * 0.05 + w[1] * 0.10 + 0.35);
        const Value h2 = ag::sigmoid(w[2] * 0.05 + w[3] * 0.10 + 0.35);
        const Value o1 = ag::sigmoid(w[4] * h1 + w[5] * h2 + 0.60);
        const Value o2 = ag::sigmoid(w[6] * h1 + w[7] * h2 + 0.60);
        return 0.5 * ag::pow(0.01 - o1, 2.0) + 0.5 * ag::pow(0.99 - o2, 2.0);
    };
    const std::vector<double> w0 = {0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55};
    const ag::Matrix h = ag::hessian(loss, w0);
    auto gradient = [&](std::vector<double> w) {
        ag::Scope s;
        std::vector<Value> v(w.begin(), w.end());
        return ag::grad(loss(v), v);
    };
    for (std::size_t j = 0; j < w0.size(); ++j) {
        std::vector<double> up = w0, down = w0;
        up[j] += 1e-5;
        down[j] -= 1e-5;
        const std::vector<double> gu = gradient(up), gd = gradient(down);
        for (std::size_t i = 0; i < w0.size(); ++i) {
            CAPTURE(i);
            CAPTURE(j);
            CHECK(h[i][j] == doctest::Approx((gu[i] - gd[i]) / 2e-5).epsilon(1e-6).scale(1e-6));
            CHECK(h[i][j] == doctest::Approx(h[j][i]).epsilon(1e-12));
        }
    }
}

TEST_CASE("Jacobians: reverse and forward agree with the hand formula, jvp and vjp are its products") {
    // F(x, y, z) = (x y, sin(x) + z^2, exp(y z), x / z)
    auto F = [](const std::vector<Value>& v) {
        return std::vector<Value>{v[0] * v[1], ag::sin(v[0]) + v[2] * v[2], ag::exp(v[1] * v[2]), v[0] / v[2]};
    };
    const double x = 0.4, y = -1.1, z = 0.8;
    const ag::Matrix want = {
        {y, x, 0}, {std::cos(x), 0, 2 * z}, {0, z * std::exp(y * z), y * std::exp(y * z)}, {1 / z, 0, -x / (z * z)}};
    for (auto mode : {ag::JacobianMode::Reverse, ag::JacobianMode::Forward, ag::JacobianMode::Auto}) {
        CAPTURE(static_cast<int>(mode));
        const ag::Matrix J = ag::jacobian(F, {x, y, z}, mode);
        for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 3; ++j) CHECK(J[i][j] == doctest::Approx(want[i][j]).epsilon(1e-14));
    }
    const std::vector<double> v = {0.5, -2.0, 1.5}, u = {1.0, -1.0, 0.25, 2.0};
    const std::vector<double> jv = ag::jvp(F, {x, y, z}, v), uj = ag::vjp(F, {x, y, z}, u);
    for (int i = 0; i < 4; ++i)
        CHECK(jv[i] == doctest::Approx(want[i][0] * v[0] + want[i][1] * v[1] + want[i][2] * v[2]).epsilon(1e-14));
    for (int j = 0; j < 3; ++j)
        CHECK(uj[j] == doctest::Approx(u[0] * want[0][j] + u[1] * want[1][j] + u[2] * want[2][j] + u[3] * want[3][j])
                           .epsilon(1e-14));
    CHECK_THROWS_WITH_AS(ag::jvp(F, {x, y, z}, {1.0}), doctest::Contains("v has 1 entries"), std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::vjp(F, {x, y, z}, {1.0}), doctest::Contains("F has 4 outputs"), std::invalid_argument);
}

TEST_CASE("Newton's method converges in a handful of steps on a convex function, gradient descent does not") {
    // f(x, y) = exp(x + y) + x^2 + 2 y^2, strictly convex; its minimizer solves
    // exp(x + y) + 2x = 0 and exp(x + y) + 4y = 0, so x = 2y.
    auto f = [](const std::vector<Value>& v) { return ag::exp(v[0] + v[1]) + v[0] * v[0] + 2.0 * v[1] * v[1]; };
    std::vector<double> p = {1.0, 1.0};
    int steps = 0;
    double gnorm = 1;
    for (; steps < 20 && gnorm > 1e-12; ++steps) {
        ag::Scope s;
        std::vector<Value> v(p.begin(), p.end());
        const std::vector<double> g = ag::grad(f(v), v);
        const ag::Matrix h = ag::hessian(f, p);
        // Solve h d = g (2x2).
        const double det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        p[0] -= (h[1][1] * g[0] - h[0][1] * g[1]) / det;
        p[1] -= (-h[1][0] * g[0] + h[0][0] * g[1]) / det;
        gnorm = std::hypot(g[0], g[1]);
    }
    CHECK(steps <= 7);
    CHECK(p[0] == doctest::Approx(2 * p[1]).epsilon(1e-12));
    CHECK(std::exp(p[0] + p[1]) + 2 * p[0] == doctest::Approx(0.0).scale(1e-12));
}

TEST_CASE("a gradient penalty |dL/dx|^2 trains: its gradient matches differences and the objective falls") {
    // L(w, x) = (tanh(w0 x0 + w1 x1) - t)^2; objective J(w) = L + 0.5 |dL/dx|^2.
    const double x0 = 0.8, x1 = -0.4, target = 0.3;
    auto objective = [&](const std::vector<Value>& w) {
        Value x = x0, y = x1;
        const Value L = ag::pow(ag::tanh(w[0] * x + w[1] * y) - target, 2.0);
        const std::vector<Value> g = ag::grad(L, {x, y}, ag::create_graph);
        return L + 0.5 * (g[0] * g[0] + g[1] * g[1]);
    };
    std::vector<double> w = {1.5, -2.0};
    double before = 0, after = 0;
    for (int step = 0; step < 5; ++step) {
        ag::Scope s;
        std::vector<Value> wv(w.begin(), w.end());
        const Value J = objective(wv);
        const std::vector<double> g = ag::grad(J, wv);
        const auto report = ag::check_gradients(objective, w);
        INFO(report.table());
        CHECK(report.ok());
        CHECK(report.inputs[0].analytic == doctest::Approx(g[0]).epsilon(1e-14));
        if (step == 0) before = J.data();
        after = J.data();
        for (int k = 0; k < 2; ++k) w[k] -= 0.2 * g[k];
    }
    CHECK(after < before);
}

TEST_CASE("the Hessian of an MLP loss in its parameters (tensor path) against differences of its gradient") {
    // 3-4-2 tanh MLP, MSE loss on a batch of 5; parameters W1 [3, 4], b1 [4], W2 [4, 2], b2 [2].
    ag::Rng rng(7);
    const ag::Tensor X = ag::Tensor::randn({5, 3}, rng).set_requires_grad(false);
    const ag::Tensor Y = ag::Tensor::randn({5, 2}, rng).set_requires_grad(false);
    const std::vector<ag::Tensor> params = {ag::Tensor::randn({3, 4}, rng, 0, 0.7), ag::Tensor::randn({4}, rng, 0, 0.3),
                                            ag::Tensor::randn({4, 2}, rng, 0, 0.7),
                                            ag::Tensor::randn({2}, rng, 0, 0.3)};
    auto loss = [&](const std::vector<ag::Tensor>& p) {
        const ag::Tensor h = ag::tanh(ag::linear(X, p[0], p[1]));
        return ag::mse_loss(ag::linear(h, p[2], p[3]), Y);
    };
    const ag::Matrix H = ag::hessian(loss, params);
    REQUIRE(H.size() == 12 + 4 + 8 + 2);
    // The gradient at params moved along coordinate j, by first-order sweeps.
    auto gradient = [&](std::size_t j, double by) {
        ag::Scope s;
        std::vector<ag::Tensor> p;
        std::size_t offset = 0;
        for (const auto& t : params) {
            std::vector<double> d = t.to_vector();
            if (j >= offset && j < offset + d.size()) d[j - offset] += by;
            offset += d.size();
            p.push_back(ag::Tensor(t.shape(), std::span<const double>(d)));
        }
        std::vector<double> g;
        for (const auto& gi : ag::grad(loss(p), p)) g.insert(g.end(), gi.data().begin(), gi.data().end());
        return g;
    };
    for (std::size_t j = 0; j < H.size(); ++j) {
        const std::vector<double> up = gradient(j, 1e-5), down = gradient(j, -1e-5);
        for (std::size_t i = 0; i < H.size(); ++i) {
            CAPTURE(i);
            CAPTURE(j);
            CHECK(H[i][j] == doctest::Approx((up[i] - down[i]) / 2e-5).epsilon(1e-5).scale(1e-6));
        }
    }
    // hvp is H v, without forming H.
    std::vector<ag::Tensor> v;
    for (const auto& t : params) v.push_back(ag::Tensor::rand(t.shape(), rng, -1, 1).set_requires_grad(false));
    const std::vector<ag::Tensor> hv = ag::hvp(loss, params, v);
    std::vector<double> vf, hvf;
    for (std::size_t k = 0; k < v.size(); ++k) {
        vf.insert(vf.end(), v[k].data().begin(), v[k].data().end());
        hvf.insert(hvf.end(), hv[k].data().begin(), hv[k].data().end());
    }
    for (std::size_t i = 0; i < H.size(); ++i) {
        double e = 0;
        for (std::size_t j = 0; j < H.size(); ++j) e += H[i][j] * vf[j];
        CHECK(hvf[i] == doctest::Approx(e).epsilon(1e-12).scale(1e-12));
    }
}

TEST_CASE("tensor Jacobians: jacobian, jvp and vjp agree with each other and with the hand formula") {
    // F(a, b) = a * b + sin(a) (elementwise, a [2, 2], b [2]): J is diagonal in a, and in b sums over rows.
    auto F = [](const std::vector<ag::Tensor>& x) { return x[0] * x[1] + ag::sin(x[0]); };
    const ag::Tensor a({2, 2}, {0.3, -0.5, 1.2, 0.8}), b({2}, {2.0, -1.0});
    const ag::Matrix J = ag::jacobian(F, {a, b});
    REQUIRE(J.size() == 4);
    for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 6; ++j) {
            double want = 0;
            if (j < 4 && j == i) want = b.data()[i % 2] + std::cos(a.data()[i]);
            if (j >= 4 && j - 4 == i % 2) want = a.data()[i];
            CHECK(J[i][j] == doctest::Approx(want).epsilon(1e-14));
        }
    const std::vector<ag::Tensor> v = {ag::Tensor({2, 2}, {1, 2, 3, 4}), ag::Tensor({2}, {-1, 0.5})};
    const ag::Tensor jv = ag::jvp(F, {a, b}, v);
    const std::vector<double> vf = {1, 2, 3, 4, -1, 0.5};
    for (int i = 0; i < 4; ++i) {
        double e = 0;
        for (int j = 0; j < 6; ++j) e += J[i][j] * vf[j];
        CHECK(jv.data()[i] == doctest::Approx(e).epsilon(1e-14));
    }
    const ag::Tensor u({2, 2}, {0.5, -1, 2, 1});
    const std::vector<ag::Tensor> uj = ag::vjp(F, {a, b}, u);
    for (int j = 0; j < 6; ++j) {
        double e = 0;
        for (int i = 0; i < 4; ++i) e += u.data()[i] * J[i][j];
        CHECK((j < 4 ? uj[0].data()[j] : uj[1].data()[j - 4]) == doctest::Approx(e).epsilon(1e-14));
    }
    CHECK_THROWS_WITH_AS(ag::vjp(F, {a, b}, ag::Tensor({2}, {1, 2})), doctest::Contains("u has shape [2]"),
                         std::invalid_argument);
}

TEST_CASE("check_gradients' second-order check: passes on correct Hessians, names a wrong entry") {
    auto f = [](const std::vector<Value>& v) { return v[0] * v[0] * v[1] + ag::sin(v[0] * v[1]); };
    const auto report = ag::check_gradients(f, {1.0, 2.0}, {.second_order = true});
    INFO(report.table());
    CHECK(report.ok());
    REQUIRE(report.hessian.size() == 4);
    // d2f/dxdy = 2x + cos(xy) - xy sin(xy) at (1, 2)
    CHECK(report.hessian[1].check.analytic == doctest::Approx(2 + std::cos(2.0) - 2 * std::sin(2.0)).epsilon(1e-13));
    // relu(x)^2: at 0 the engine says f'' = 0 by the kink convention (relu'(0) = 0), the differences say 1.
    auto kink = [](const std::vector<Value>& v) { return ag::relu(v[0]) * ag::relu(v[0]) + v[1]; };
    const auto bad = ag::check_gradients(kink, {0.0, 1.0}, {.second_order = true});
    CHECK_FALSE(bad.ok());
    CHECK(bad.inputs[0].ok);  // first order agrees (0)
    CHECK_FALSE(bad.hessian[0].check.ok);
    CHECK(bad.hessian[0].check.numeric == doctest::Approx(1.0));
    CHECK(bad.table().find("second derivatives") != std::string::npos);
}

TEST_CASE("hvp (forward over reverse on the tape) equals the recorded Hessian times v, through every scalar op") {
    auto f = [](const std::vector<Value>& v) {
        const Value a = v[0], b = v[1], c = v[2];
        return ag::exp(a * b) + ag::log(c * c + 1.0) * ag::sqrt(b * b + 2.0) + ag::tanh(a - c) * ag::sigmoid(b) +
               ag::relu(a + b) * c + ag::sin(a) * ag::cos(c) + ag::abs(b - 0.3) * a + ag::pow(c * c + 1.0, a) +
               ag::min(a, b) * ag::max(b, c) + 2.0 / (1.5 + a * a) - 3.0 * c + ag::pow(2.0, b) + (a - 1.0) / 4.0 - (-b);
    };
    for (const auto& p : std::vector<std::vector<double>>{{0.3, -0.7, 1.1}, {1.2, 0.4, -0.5}}) {
        const ag::Matrix H = ag::hessian(f, p);
        const std::vector<double> v = {0.5, -1.25, 2.0};
        const std::vector<double> hv = ag::hvp(f, p, v);
        for (int i = 0; i < 3; ++i)
            CHECK(hv[i] == doctest::Approx(H[i][0] * v[0] + H[i][1] * v[1] + H[i][2] * v[2]).epsilon(1e-13));
    }
}

TEST_CASE("a recorded gradient with respect to a late intermediate sweeps only what lies above it") {
    // Inner gradients taken with respect to an intermediate (reverse over
    // reverse nestings) must not record anything for the history below it:
    // the cost of one is the same after a long history as after a short one.
    ag::Scope scope;
    auto recorded_by_inner_grad = [](int history) {
        ag::Value x = 0.3;
        ag::Value h = x;
        for (int i = 0; i < history; ++i) h = ag::sin(h) + 0.5;  // below u: cannot reach it
        const ag::Value u = h * 1.0;
        const ag::Value f = u * u * u + ag::exp(u);
        const std::uint32_t before = ag::tape().size();
        const auto g = ag::grad(f, {u}, ag::create_graph);
        const std::uint32_t recorded = ag::tape().size() - before;
        // df/du = 3u^2 + e^u, and it differentiates again (d2f/du2 = 6u + e^u).
        CHECK(g[0].data() == doctest::Approx(3 * u.data() * u.data() + std::exp(u.data())).epsilon(1e-14));
        CHECK(ag::grad(g[0], {u})[0] == doctest::Approx(6 * u.data() + std::exp(u.data())).epsilon(1e-14));
        // ... and through u, with respect to x, the chain reaches back as before.
        const double du_dx = ag::grad(u, {x})[0];
        CHECK(ag::grad(g[0], {x})[0] == doctest::Approx((6 * u.data() + std::exp(u.data())) * du_dx).epsilon(1e-12));
        return recorded;
    };
    const std::uint32_t short_history = recorded_by_inner_grad(10);
    const std::uint32_t long_history = recorded_by_inner_grad(10000);
    CAPTURE(short_history);
    CAPTURE(long_history);
    CHECK(short_history == long_history);
    CHECK(long_history < 40);
}
