// The scalar tape engine: every op against central differences and its
// hand-derived derivative; reuse, deep chains, threads, lifetimes, guards.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <algorithm>
#include <functional>
#include <limits>
#include <numbers>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using ag::Value;
using Fn = std::function<Value(const std::vector<Value>&)>;

namespace {

// Every op, with the derivative a student would derive by hand.
struct UnaryCase {
    std::string name;
    std::function<Value(const Value&)> f;
    std::function<double(double)> df;
    std::vector<double> points;
};
struct BinaryCase {
    std::string name;
    std::function<Value(const Value&, const Value&)> f;
    std::function<double(double, double)> dfa, dfb;
    std::vector<std::pair<double, double>> points;
};

double sig(double x) { return 1 / (1 + std::exp(-x)); }

const std::vector<double> anywhere = {-2.3, -0.7, 0.4, 1.9, 3.1};
const std::vector<double> positive = {0.2, 0.9, 1.7, 4.2};

std::vector<UnaryCase> unary_cases() {
    return {
        {"neg", [](const Value& a) { return -a; }, [](double) { return -1.0; }, anywhere},
        {"exp", [](const Value& a) { return ag::exp(a); }, [](double x) { return std::exp(x); }, anywhere},
        {"log", [](const Value& a) { return ag::log(a); }, [](double x) { return 1 / x; }, positive},
        {"sqrt", [](const Value& a) { return ag::sqrt(a); }, [](double x) { return 0.5 / std::sqrt(x); }, positive},
        {"tanh", [](const Value& a) { return ag::tanh(a); }, [](double x) { return 1 - std::tanh(x) * std::tanh(x); },
         anywhere},
        {"sigmoid", [](const Value& a) { return ag::sigmoid(a); }, [](double x) { return sig(x) * (1 - sig(x)); },
         anywhere},
        {"relu", [](const Value& a) { return ag::relu(a); }, [](double x) { return x > 0 ? 1.0 : 0.0; }, anywhere},
        {"sin", [](const Value& a) { return ag::sin(a); }, [](double x) { return std::cos(x); }, anywhere},
        {"cos", [](const Value& a) { return ag::cos(a); }, [](double x) { return -std::sin(x); }, anywhere},
        {"abs", [](const Value& a) { return ag::abs(a); }, [](double x) { return x > 0 ? 1.0 : -1.0; }, anywhere},
        {"pow(a, 3)", [](const Value& a) { return ag::pow(a, 3.0); }, [](double x) { return 3 * x * x; }, anywhere},
        {"pow(a, -1.5)", [](const Value& a) { return ag::pow(a, -1.5); },
         [](double x) { return -1.5 * std::pow(x, -2.5); }, positive},
        {"pow(2.5, a)", [](const Value& a) { return ag::pow(2.5, a); },
         [](double x) { return std::pow(2.5, x) * std::log(2.5); }, anywhere},
        {"a + 3", [](const Value& a) { return a + 3.0; }, [](double) { return 1.0; }, anywhere},
        {"3 + a", [](const Value& a) { return 3.0 + a; }, [](double) { return 1.0; }, anywhere},
        {"a - 3", [](const Value& a) { return a - 3.0; }, [](double) { return 1.0; }, anywhere},
        {"3 - a", [](const Value& a) { return 3.0 - a; }, [](double) { return -1.0; }, anywhere},
        {"a * 3", [](const Value& a) { return a * 3.0; }, [](double) { return 3.0; }, anywhere},
        {"3 * a", [](const Value& a) { return 3.0 * a; }, [](double) { return 3.0; }, anywhere},
        {"a / 3", [](const Value& a) { return a / 3.0; }, [](double) { return 1.0 / 3.0; }, anywhere},
        {"3 / a", [](const Value& a) { return 3.0 / a; }, [](double x) { return -3.0 / (x * x); }, anywhere},
        {"tan",
         [](const Value& a) { return ag::tan(a); },
         [](double x) { return 1 + std::tan(x) * std::tan(x); },
         {-1.0, 0.3, 1.2}},
        {"atan", [](const Value& a) { return ag::atan(a); }, [](double x) { return 1 / (1 + x * x); }, anywhere},
        {"sinh", [](const Value& a) { return ag::sinh(a); }, [](double x) { return std::cosh(x); }, anywhere},
        {"cosh", [](const Value& a) { return ag::cosh(a); }, [](double x) { return std::sinh(x); }, anywhere},
        {"log1p", [](const Value& a) { return ag::log1p(a); }, [](double x) { return 1 / (1 + x); }, {-0.5, 0.2, 3.0}},
        {"expm1", [](const Value& a) { return ag::expm1(a); }, [](double x) { return std::exp(x); }, anywhere},
        {"erf", [](const Value& a) { return ag::erf(a); },
         [](double x) { return 2 / std::sqrt(std::numbers::pi) * std::exp(-x * x); }, anywhere},
        {"softplus", [](const Value& a) { return ag::softplus(a); }, [](double x) { return sig(x); }, anywhere},
        {"gelu", [](const Value& a) { return ag::gelu(a); },
         [](double x) {
             return 0.5 * (1 + std::erf(x / std::sqrt(2.0))) +
                    x * std::exp(-x * x / 2) / std::sqrt(2 * std::numbers::pi);
         },
         anywhere},
        {"leaky_relu(a, 0.1)", [](const Value& a) { return ag::leaky_relu(a, 0.1); },
         [](double x) { return x > 0 ? 1.0 : 0.1; }, anywhere},
        {"clamp_min(a, 0.5)", [](const Value& a) { return ag::clamp_min(a, 0.5); },
         [](double x) { return x >= 0.5 ? 1.0 : 0.0; }, anywhere},
        {"clamp_max(a, 0.5)", [](const Value& a) { return ag::clamp_max(a, 0.5); },
         [](double x) { return x <= 0.5 ? 1.0 : 0.0; }, anywhere},
    };
}

std::vector<BinaryCase> binary_cases() {
    const std::vector<std::pair<double, double>> pts = {{-1.3, 0.6}, {0.8, 2.1}, {2.2, -0.9}, {-0.4, -1.7}};
    const std::vector<std::pair<double, double>> pos = {{0.3, 0.6}, {1.8, 2.1}, {2.2, -0.9}, {0.5, -1.7}};
    return {
        {"+", [](const Value& a, const Value& b) { return a + b; }, [](double, double) { return 1.0; },
         [](double, double) { return 1.0; }, pts},
        {"-", [](const Value& a, const Value& b) { return a - b; }, [](double, double) { return 1.0; },
         [](double, double) { return -1.0; }, pts},
        {"*", [](const Value& a, const Value& b) { return a * b; }, [](double, double b) { return b; },
         [](double a, double) { return a; }, pts},
        {"/", [](const Value& a, const Value& b) { return a / b; }, [](double, double b) { return 1 / b; },
         [](double a, double b) { return -a / (b * b); }, pts},
        {"pow", [](const Value& a, const Value& b) { return ag::pow(a, b); },
         [](double a, double b) { return b * std::pow(a, b - 1); },
         [](double a, double b) { return std::pow(a, b) * std::log(a); }, pos},
        {"min", [](const Value& a, const Value& b) { return ag::min(a, b); },
         [](double a, double b) { return a < b ? 1.0 : 0.0; }, [](double a, double b) { return b < a ? 1.0 : 0.0; },
         pts},
        {"max", [](const Value& a, const Value& b) { return ag::max(a, b); },
         [](double a, double b) { return a > b ? 1.0 : 0.0; }, [](double a, double b) { return b > a ? 1.0 : 0.0; },
         pts},
    };
}

}  // namespace

TEST_CASE("every unary op: derivative equals the hand-derived formula and central differences") {
    for (const auto& c : unary_cases()) {
        for (double x0 : c.points) {
            CAPTURE(c.name);
            CAPTURE(x0);
            ag::Scope scope;
            Value x = x0;
            Value y = c.f(x);
            y.backward();
            CHECK(x.grad() == doctest::Approx(c.df(x0)).epsilon(1e-14));
            auto report = ag::check_gradients([&](const std::vector<Value>& v) { return c.f(v[0]); }, {x0});
            INFO(report.table());
            CHECK(report.ok());
            CHECK(report.inputs[0].analytic == doctest::Approx(c.df(x0)).epsilon(1e-14));
        }
    }
}

TEST_CASE("every binary op: both partials equal the hand-derived formulas and central differences") {
    for (const auto& c : binary_cases()) {
        for (auto [a0, b0] : c.points) {
            CAPTURE(c.name);
            CAPTURE(a0);
            CAPTURE(b0);
            ag::Scope scope;
            Value a = a0, b = b0;
            c.f(a, b).backward();
            CHECK(a.grad() == doctest::Approx(c.dfa(a0, b0)).epsilon(1e-14));
            CHECK(b.grad() == doctest::Approx(c.dfb(a0, b0)).epsilon(1e-14));
            auto report = ag::check_gradients([&](const std::vector<Value>& v) { return c.f(v[0], v[1]); }, {a0, b0});
            INFO(report.table());
            CHECK(report.ok());
        }
    }
}

TEST_CASE("every op in ops.hpp's lists has a row in the op tables above") {
    // Each row's function is run once and the op it records is noted; an op
    // added to the lists without a row (and so without a gradient test) fails here.
    std::vector<ag::Op> covered;
    for (const auto& c : unary_cases()) {
        ag::Scope scope;
        covered.push_back(ag::tape().op(c.f(Value(0.5)).index()));
    }
    for (const auto& c : binary_cases()) {
        ag::Scope scope;
        covered.push_back(ag::tape().op(c.f(Value(0.5), Value(1.5)).index()));
    }
    {
        ag::Scope scope;  // the one ternary op, tested below
        covered.push_back(ag::tape().op(ag::muladd(Value(0.5), Value(1.5), Value(2.5)).index()));
    }
    auto has = [&](ag::Op op) { return std::find(covered.begin(), covered.end(), op) != covered.end(); };
// clang-format off
#define AG_HAS_ROW(Name) CHECK_MESSAGE(has(ag::Op::Name), "no test row records ag::Op::" #Name);
    AG_UNARY_OPS(AG_HAS_ROW) AG_BINARY_OPS(AG_HAS_ROW) AG_CONST_OPS(AG_HAS_ROW) AG_TERNARY_OPS(AG_HAS_ROW)
#undef AG_HAS_ROW
    // clang-format on
}

TEST_CASE("muladd(a, b, c): one node, the value of a * b + c, partials b, a, 1 by hand and central differences") {
    std::mt19937_64 rng(20261203);
    std::uniform_real_distribution<double> u(-3.0, 3.0);
    for (int trial = 0; trial < 20; ++trial) {
        ag::Scope scope;
        // volatile: the engine's a * b + c against the run-time one, never a folded or fused constant.
        volatile double va = u(rng), vb = u(rng), vc = u(rng);
        const double a0 = va, b0 = vb, c0 = vc;
        CAPTURE(a0);
        CAPTURE(b0);
        CAPTURE(c0);
        Value a = a0, b = b0, c = c0;
        const std::uint32_t before = ag::tape().size();
        Value y = ag::muladd(a, b, c);
        CHECK(ag::tape().size() == before + 1);
        CHECK(std::string(y.op_name()) == "muladd");
        CHECK(y.data() == va * vb + vc);
        CHECK(y.data() == (a * b + c).data());
        // Used twice, so each partial also accumulates: f = muladd(a, b, c) * a.
        Value f = y * a;
        f.backward();
        CHECK(a.grad() == doctest::Approx(b0 * a0 + (a0 * b0 + c0)).epsilon(1e-14));
        CHECK(b.grad() == doctest::Approx(a0 * a0).epsilon(1e-14));
        CHECK(c.grad() == doctest::Approx(a0).epsilon(1e-14));
        const auto report = ag::check_gradients(
            [](const std::vector<Value>& v) { return ag::sin(ag::muladd(v[0], v[1], v[2])) * v[1]; }, {a0, b0, c0});
        INFO(report.table());
        CHECK(report.ok());
    }
}

TEST_CASE("muladd: the same operand twice or thrice, NaN, constants, stale handles, NoGrad and anomaly mode") {
    ag::Scope scope;
    Value x = 1.5;
    Value sq = ag::muladd(x, x, x);  // x^2 + x: d/dx = 2x + 1
    sq.backward();
    CHECK(sq.data() == 1.5 * 1.5 + 1.5);
    CHECK(x.grad() == 4.0);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    CHECK(std::isnan(ag::muladd(Value(nan), Value(2.0), Value(1.0)).data()));
    CHECK(std::isnan(ag::muladd(Value(2.0), Value(nan), Value(1.0)).data()));
    CHECK(std::isnan(ag::muladd(Value(2.0), Value(1.0), Value(nan)).data()));
    // Constants record nothing of their own: a * 2 + 1 is two nodes, 2 * 3 + a one, 2 * 3 + 1 none.
    Value a = 4.0;
    const std::uint32_t before = ag::tape().size();
    Value lin = ag::muladd(a, ag::constant(2.0), ag::constant(1.0));
    CHECK(lin.data() == 9.0);
    CHECK(ag::tape().size() == before + 2);
    lin.backward();
    CHECK(a.grad() == 2.0);
    const std::uint32_t before_one = ag::tape().size();
    Value six_plus = ag::muladd(ag::constant(2.0), ag::constant(3.0), a);
    CHECK(ag::tape().size() == before_one + 1);
    CHECK(six_plus.data() == 10.0);
    const Value k = ag::muladd(ag::constant(2.0), ag::constant(3.0), ag::constant(1.0));
    CHECK(k.is_constant());
    CHECK(k.data() == 7.0);
    CHECK(ag::muladd(2.0, 3.0, 1.0) == 7.0);  // the plain-number overload, for generic code
    Value stale;
    {
        ag::Scope inner;
        stale = Value(1.0);
    }
    CHECK_THROWS_WITH_AS(ag::muladd(x, stale, x), doctest::Contains("muladd: stale handle"), std::logic_error);
    CHECK_THROWS_WITH_AS(ag::muladd(x, x, Value()), doctest::Contains("muladd: empty handle"), std::logic_error);
    {
        ag::NoGrad no_grad;
        const Value n = ag::muladd(x, x, x);
        CHECK(n.is_leaf());
        CHECK(n.data() == 1.5 * 1.5 + 1.5);
    }
    {
        ag::DetectAnomaly anomaly;
        CHECK_THROWS_WITH_AS(ag::muladd(Value(1e300), Value(1e300), Value(1.0)),
                             doctest::Contains("muladd produced inf from inputs 1e+300, 1e+300 and 1"),
                             ag::AnomalyError);
    }
}

TEST_CASE("muladd: derivatives of derivatives, Hessians and forward mode use the same partials") {
    ag::Scope scope;
    // f = muladd(x, y, x^3) = x y + x^3: f_x = y + 3x^2, f_xx = 6x, f_xy = 1, f_yy = 0.
    auto f = [](const auto& x, const auto& y) { return ag::muladd(x, y, x * x * x); };
    const double x0 = 0.7, y0 = -1.2;
    Value x = x0, y = y0;
    const Value fx = ag::grad(f(x, y), {x}, ag::create_graph)[0];
    CHECK(fx.data() == doctest::Approx(y0 + 3 * x0 * x0).epsilon(1e-15));
    const std::vector<double> second = ag::grad(fx, {x, y});
    CHECK(second[0] == doctest::Approx(6 * x0).epsilon(1e-15));
    CHECK(second[1] == doctest::Approx(1.0).epsilon(1e-15));
    const ag::Matrix h = ag::hessian([&](const std::vector<Value>& v) { return f(v[0], v[1]); }, {x0, y0});
    CHECK(h[0][0] == doctest::Approx(6 * x0).epsilon(1e-14));
    CHECK(h[0][1] == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(h[1][0] == doctest::Approx(1.0).epsilon(1e-14));
    CHECK(h[1][1] == doctest::Approx(0.0));
    const std::vector<double> hv =
        ag::hvp([&](const std::vector<Value>& v) { return f(v[0], v[1]); }, {x0, y0}, {1.0, 2.0});
    CHECK(hv[0] == doctest::Approx(6 * x0 + 2.0).epsilon(1e-14));
    CHECK(hv[1] == doctest::Approx(1.0).epsilon(1e-14));
    const std::vector<double> jv =
        ag::jvp([&](const std::vector<Value>& v) { return std::vector<Value>{f(v[0], v[1])}; }, {x0, y0}, {1.0, 2.0});
    CHECK(jv[0] == doctest::Approx(y0 + 3 * x0 * x0 + 2.0 * x0).epsilon(1e-14));
    CHECK(ag::derivative([&](const auto& t) { return f(t, std::decay_t<decltype(t)>(y0)); }, x0) ==
          doctest::Approx(y0 + 3 * x0 * x0).epsilon(1e-14));
}

TEST_CASE("every op propagates NaN from any operand (IEEE's pow(1, NaN) = pow(NaN, 0) = 1 aside)") {
    const double nan = std::numeric_limits<double>::quiet_NaN();
    for (const auto& c : unary_cases()) {
        CAPTURE(c.name);
        ag::Scope scope;
        CHECK(std::isnan(c.f(Value(nan)).data()));
    }
    for (const auto& c : binary_cases()) {
        CAPTURE(c.name);
        ag::Scope scope;
        CHECK(std::isnan(c.f(Value(nan), Value(2.0)).data()));
        CHECK(std::isnan(c.f(Value(2.0), Value(nan)).data()));
    }
}

TEST_CASE("forward values equal the plain double formulas") {
    ag::Scope scope;
    // volatile: compare with the run-time libm, not the compiler's folded constants.
    volatile double va = 0.7, vb = -1.3;
    Value a = va, b = vb;
    CHECK((a + b).data() == 0.7 + -1.3);
    CHECK((a - b).data() == 0.7 - -1.3);
    CHECK((a * b).data() == 0.7 * -1.3);
    CHECK((a / b).data() == 0.7 / -1.3);
    CHECK((a / 3.0).data() == 0.7 / 3.0);
    CHECK((3.0 / b).data() == 3.0 / -1.3);
    CHECK((2.0 - a).data() == 2.0 - 0.7);
    CHECK(ag::tanh(a).data() == std::tanh(va));
    CHECK(ag::pow(a, b).data() == std::pow(va, vb));
    CHECK(ag::sigmoid(Value(-800.0)).data() == 0.0);  // no overflow in exp
    CHECK(ag::sigmoid(Value(800.0)).data() == 1.0);
    CHECK(ag::sigmoid(Value(-3.0)).data() == doctest::Approx(sig(-3.0)).epsilon(1e-15));
}

TEST_CASE("non-differentiable points follow PyTorch's conventions") {
    ag::Scope scope;
    Value z = 0.0;
    ag::relu(z).backward();
    CHECK(z.grad() == 0.0);
    z.zero_grad();
    ag::abs(z).backward();
    CHECK(z.grad() == 0.0);
    Value a = 2.0, b = 2.0;
    ag::max(a, b).backward();
    CHECK(a.grad() == 0.5);
    CHECK(b.grad() == 0.5);
    Value base = 0.0, e = 2.0;
    ag::pow(base, e).backward();  // d/de 0^e = 0 (not 0 * log 0 = NaN)
    CHECK(e.grad() == 0.0);
    CHECK(base.grad() == 0.0);
}

TEST_CASE("(x + y) * z at (-2, 5, -4)") {
    ag::Scope scope;
    Value x = -2.0, y = 5.0, z = -4.0;
    Value f = (x + y) * z;
    f.backward();
    CHECK(f.data() == -12.0);
    CHECK(x.grad() == -4.0);
    CHECK(y.grad() == -4.0);
    CHECK(z.grad() == 3.0);
}

TEST_CASE("textbook sigmoid chain: engine equals the hand-derived partials to 1e-12") {
    std::mt19937_64 rng(20261121);
    std::uniform_real_distribution<double> u(-2.0, 2.0);
    for (int trial = 0; trial < 50; ++trial) {
        ag::Scope scope;
        const double x1 = u(rng), x2 = u(rng), v11 = u(rng), v12 = u(rng), c = u(rng), w11 = u(rng), w12 = u(rng),
                     b = u(rng), a2 = u(rng), y = u(rng);
        Value X1 = x1, X2 = x2, V11 = v11, V12 = v12, C = c, W11 = w11, W12 = w12, B = b, A2 = a2;
        Value z1 = V11 * X1 + V12 * X2 + C;
        Value a1 = ag::sigmoid(z1);
        Value z3 = W11 * a1 + W12 * A2 + B;
        Value a3 = ag::sigmoid(z3);
        Value e = 0.5 * ag::pow(a3 - y, 2.0);
        e.backward();

        auto dsig = [](double z) { return sig(z) * (1 - sig(z)); };
        const double hz1 = v11 * x1 + v12 * x2 + c, ha1 = sig(hz1);
        const double hz3 = w11 * ha1 + w12 * a2 + b, ha3 = sig(hz3);
        const double de_dw11 = (ha3 - y) * dsig(hz3) * ha1;
        const double de_dv11 = (ha3 - y) * dsig(hz3) * w11 * dsig(hz1) * x1;
        CHECK(std::fabs(W11.grad() - de_dw11) <= 1e-12);
        CHECK(std::fabs(V11.grad() - de_dv11) <= 1e-12);
        CHECK(std::fabs(e.data() - 0.5 * (ha3 - y) * (ha3 - y)) <= 1e-15);
    }
}

TEST_CASE("gradients accumulate where a node is used more than once") {
    ag::Scope scope;
    Value a = 3.0;
    (a + a).backward();
    CHECK(a.grad() == 2.0);
    a.zero_grad();
    (a * a).backward();
    CHECK(a.grad() == 6.0);

    // Diamond: b and c both come from a, d joins them.
    a.zero_grad();
    Value b = a * 2.0, c = ag::exp(a), d = b * c;
    d.backward();
    CHECK(a.grad() == doctest::Approx(2 * std::exp(3.0) + 6 * std::exp(3.0)).epsilon(1e-15));

    // One node reused a thousand times.
    Value x = 0.5, s = 0.0;
    Value t = ag::tanh(x);
    for (int i = 0; i < 1000; ++i) s = s + t * static_cast<double>(i);
    s.backward();
    CHECK(x.grad() == doctest::Approx(499500.0 * (1 - std::tanh(0.5) * std::tanh(0.5))).epsilon(1e-13));
}

TEST_CASE("backward() twice accumulates leaf gradients, as in PyTorch, and zero_grad resets") {
    ag::Scope scope;
    Value x = 1.5, y = -0.5;
    Value h = x * y;  // an intermediate node used below
    Value f = ag::sin(h) + x;
    f.backward();
    const double gx = y.data() * std::cos(-0.75) + 1, gy = x.data() * std::cos(-0.75);
    CHECK(x.grad() == doctest::Approx(gx).epsilon(1e-15));
    f.backward();
    CHECK(x.grad() == doctest::Approx(2 * gx).epsilon(1e-15));
    CHECK(y.grad() == doctest::Approx(2 * gy).epsilon(1e-15));
    // The intermediate holds this sweep's adjoint, not a running sum.
    CHECK(h.grad() == doctest::Approx(std::cos(-0.75)).epsilon(1e-15));

    ag::zero_grad({x});
    CHECK(x.grad() == 0.0);
    CHECK(y.grad() != 0.0);
    ag::tape().zero_grad();
    CHECK(y.grad() == 0.0);
    f.backward();
    CHECK(x.grad() == doctest::Approx(gx).epsilon(1e-15));
}

TEST_CASE("a chain of 10^7 operations differentiates without recursion") {
    ag::Scope scope;
    constexpr int n = 10'000'000;
    ag::tape().reserve(ag::tape().size() + n + 8);
    Value x = 1.0;
    Value y = x;
    for (int i = 0; i < n; ++i) y = y * 1.0000001;
    y.backward();
    const double expected = std::pow(1.0000001, n);
    CHECK(x.grad() == doctest::Approx(expected).epsilon(1e-9));
    CHECK(y.data() == doctest::Approx(expected).epsilon(1e-9));
}

TEST_CASE("a million training steps run in flat memory, and parameters outlive each step scope") {
    Value w = 0.0;  // fit w to minimize (w - 3)^2 with SGD
    const auto mark = ag::tape().mark();
    std::size_t reserved_after_first = 0;
    for (int step = 0; step < 1'000'000; ++step) {
        ag::Scope scope;
        Value loss = ag::pow(w - 3.0, 2.0);
        loss.backward();
        w.set_data(w.data() - 0.1 * w.grad());
        w.zero_grad();
        if (step == 0) reserved_after_first = ag::tape().bytes_reserved();
    }
    CHECK(ag::tape().size() == mark.nodes);
    CHECK(ag::tape().bytes_reserved() == reserved_after_first);
    CHECK(w.data() == doctest::Approx(3.0).epsilon(1e-12));
}

TEST_CASE("a handle whose node was freed throws a clear std::logic_error") {
    Value inside;
    {
        ag::Scope scope;
        inside = Value(2.0) * 3.0;
        CHECK(inside.data() == 6.0);
    }
    CHECK_THROWS_AS(inside.data(), std::logic_error);
    CHECK_THROWS_WITH(inside.grad(), doctest::Contains("stale handle"));
    // Even after the slot is reused by a new node, the old handle stays stale.
    {
        ag::Scope scope;
        Value reused = Value(1.0) * 5.0;
        CHECK(reused.data() == 5.0);
        CHECK_THROWS_AS(inside + reused, std::logic_error);
        CHECK_THROWS_AS(inside.backward(), std::logic_error);
    }
    Value empty;
    CHECK_THROWS_WITH(empty.data(), doctest::Contains("empty handle"));
    CHECK_THROWS_WITH_AS(Value::from_index(ag::tape().size(), ag::tape()), doctest::Contains("does not exist"),
                         std::out_of_range);
    CHECK(fmt::format("{}", inside) == "Value(<freed>)");
}

TEST_CASE("each thread has its own tape: 4 threads give the same results as one") {
    auto work = [](int seed) {
        ag::Scope scope;
        std::vector<Value> xs;
        for (int i = 0; i < 50; ++i) xs.emplace_back(std::sin(seed + i));
        Value f = 0.0;
        for (int r = 0; r < 200; ++r)
            for (int i = 0; i < 50; ++i) f = f + ag::tanh(xs[i] * xs[(i + 1) % 50] + 0.1 * r);
        f.backward();
        std::vector<double> out{f.data()};
        for (auto& x : xs) out.push_back(x.grad());
        return out;
    };
    std::vector<std::vector<double>> serial, parallel(4);
    for (int t = 0; t < 4; ++t) serial.push_back(work(t));
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) threads.emplace_back([&, t] { parallel[t] = work(t); });
    for (auto& th : threads) th.join();
    for (int t = 0; t < 4; ++t) CHECK(parallel[t] == serial[t]);

    // A handle from another thread's tape is rejected, not misread.
    Value foreign;
    std::thread([&] { foreign = Value(1.0) + 1.0; }).join();
    CHECK_THROWS_AS(foreign.data(), std::logic_error);
}

TEST_CASE("ag::grad returns partials without touching .grad()") {
    ag::Scope scope;
    Value x = -2.0, y = 5.0, z = -4.0, unused = 7.0;
    Value f = (x + y) * z;
    x.set_grad(100.0);
    const auto g = ag::grad(f, {x, y, z, unused});
    CHECK(g == std::vector<double>{-4.0, -4.0, 3.0, 0.0});
    CHECK(x.grad() == 100.0);
    CHECK(y.grad() == 0.0);
    CHECK(f.grad() == 0.0);
}

TEST_CASE("NoGrad computes values but records no history, and detach stops gradients") {
    ag::Scope scope;
    Value x = 2.0;
    Value y;
    {
        ag::NoGrad no_grad;
        y = x * x;
        CHECK(y.data() == 4.0);
        CHECK(y.is_leaf());
    }
    Value z = x * x;
    CHECK(!z.is_leaf());
    (y * z).backward();
    CHECK(x.grad() == doctest::Approx(4.0 * 2 * 2.0));  // only through z
    CHECK(y.grad() == 4.0);

    x.zero_grad();
    Value d = z.detach();
    CHECK(d.data() == 4.0);
    (d * x).backward();
    CHECK(x.grad() == 4.0);  // d treated as a constant
}

TEST_CASE("anomaly mode names the first operation producing NaN or Inf") {
    ag::Scope scope;
    Value m = -1.0;
    CHECK(std::isnan(ag::log(m).data()));  // off: IEEE result, no error
    {
        ag::DetectAnomaly anomaly;
        CHECK_THROWS_AS(ag::log(m), ag::AnomalyError);
        CHECK_THROWS_WITH(ag::log(m), doctest::Contains("log produced"));
        CHECK_THROWS_WITH(ag::log(m), doctest::Contains("nan from input -1"));
        CHECK_THROWS_WITH(Value(1.0) / Value(0.0), doctest::Contains("/ produced inf from inputs 1 and 0"));
        // Backward: sqrt'(0) = inf.
        Value z = 0.0;
        Value s = ag::sqrt(z);
        CHECK(s.data() == 0.0);
        CHECK_THROWS_WITH(s.backward(), doctest::Contains("sqrt"));
        CHECK_THROWS_WITH(s.backward(), doctest::Contains("backward"));
    }
    Value z = 0.0;
    ag::sqrt(z).backward();  // off again: IEEE inf
    CHECK(std::isinf(z.grad()));
}

TEST_CASE("compound assignment records a new node") {
    ag::Scope scope;
    Value x = 3.0;
    Value y = x;
    y *= x;
    y += 1.0;
    y -= x;
    y /= 2.0;
    CHECK(y.data() == (3.0 * 3.0 + 1.0 - 3.0) / 2.0);
    CHECK(x.data() == 3.0);  // x itself unchanged
    y.backward();
    CHECK(x.grad() == doctest::Approx((2 * 3.0 - 1) / 2.0));
}

TEST_CASE("fmt prints Value(data=..., grad=...)") {
    ag::Scope scope;
    Value x = -2.0, y = 5.0, z = -4.0;
    Value f = (x + y) * z;
    f.backward();
    CHECK(fmt::format("{}", f) == "Value(data=-12, grad=1)");
    CHECK(fmt::format("{}", z) == "Value(data=-4, grad=3)");
    CHECK(fmt::format("{}", Value(0.1)) == "Value(data=0.1, grad=0)");
}

TEST_CASE("check_gradients catches a wrong derivative and names the input") {
    // relu at exactly 0: the engine says 0, the central difference says 0.5.
    auto report =
        ag::check_gradients([](const std::vector<Value>& v) { return ag::relu(v[0]) + v[1] * v[1]; }, {0.0, 1.5});
    CHECK_FALSE(report.ok());
    CHECK(report.worst_input == 0);
    CHECK(report.inputs[0].numeric == doctest::Approx(0.5));
    CHECK(report.inputs[1].ok);
    CHECK(report.max_abs_error == doctest::Approx(0.5));
    CHECK(report.table().find("FAIL") != std::string::npos);
    // It frees what it recorded.
    const auto size = ag::tape().size();
    ag::check_gradients([](const std::vector<Value>& v) { return ag::exp(v[0]); }, {1.0});
    CHECK(ag::tape().size() == size);
}

TEST_CASE("names label Values and are freed with their nodes") {
    ag::Scope scope;
    Value x(2.0, "x");
    CHECK(x.name() == "x");
    Value y = x * 2.0;
    CHECK(y.name().empty());
    y.set_name("y");
    CHECK(y.name() == "y");
}

TEST_CASE("ag::constant: operations on constants record nothing and give the plain double result") {
    ag::Scope scope;
    const std::uint32_t before = ag::tape().size();
    for (const auto& c : unary_cases()) {
        for (double x0 : c.points) {
            CAPTURE(c.name);
            CAPTURE(x0);
            const Value leaf = x0;  // the same op on a node, for its value
            const Value y = c.f(ag::constant(x0));
            CHECK(y.is_constant());
            CHECK(y.data() == c.f(leaf).data());
        }
    }
    for (const auto& c : binary_cases()) {
        for (auto [a0, b0] : c.points) {
            CAPTURE(c.name);
            const Value y = c.f(ag::constant(a0), ag::constant(b0));
            CHECK(y.is_constant());
            CHECK(y.data() == c.f(Value(a0), Value(b0)).data());
        }
    }
    // Only the leaves made above for comparison were recorded, with their results.
    const std::uint32_t per_unary = 2, per_binary = 3;
    std::uint32_t expected = 0;
    for (const auto& c : unary_cases()) expected += per_unary * static_cast<std::uint32_t>(c.points.size());
    for (const auto& c : binary_cases()) expected += per_binary * static_cast<std::uint32_t>(c.points.size());
    CHECK(ag::tape().size() - before == expected);
}

TEST_CASE("ag::constant mixed with Values: every binary op's gradient by the Value is unchanged") {
    for (const auto& c : binary_cases()) {
        for (auto [a0, b0] : c.points) {
            CAPTURE(c.name);
            CAPTURE(a0);
            CAPTURE(b0);
            ag::Scope scope;
            Value a = a0, b = b0;
            const Value left = c.f(a, ag::constant(b0));  // constant on the right
            CHECK(!left.is_constant());
            CHECK(ag::grad(left, {a})[0] == doctest::Approx(c.dfa(a0, b0)).epsilon(1e-14));
            const Value right = c.f(ag::constant(a0), b);
            CHECK(ag::grad(right, {b})[0] == doctest::Approx(c.dfb(a0, b0)).epsilon(1e-14));
            CHECK(left.data() == c.f(Value(a0), Value(b0)).data());
            // Second order through a recorded constant: d/da (df/da) by differences of the rule.
            const Value da = ag::grad(left, {a}, ag::create_graph)[0];
            const double h = 1e-6;
            CHECK(ag::grad(da, {a})[0] ==
                  doctest::Approx((c.dfa(a0 + h, b0) - c.dfa(a0 - h, b0)) / (2 * h)).epsilon(1e-6));
        }
    }
}

TEST_CASE("ag::constant: 0 times a Value is the constant 0, any other constant is recorded") {
    ag::Scope scope;
    Value x = 3.0;
    const std::uint32_t before = ag::tape().size();
    const Value z = x * ag::constant(0.0), z2 = ag::constant(-0.0) * x;
    CHECK(z.is_constant());
    CHECK(z2.is_constant());
    CHECK(z.data() == 0.0);
    CHECK(ag::tape().size() == before);
    CHECK(ag::grad(z + x, {x})[0] == 1.0);  // z contributes nothing, x contributes 1
    const Value w = x * ag::constant(2.5);  // the constant as a leaf, then the product
    CHECK(!w.is_constant());
    CHECK(ag::tape().size() == before + 4);  // z + x: a leaf 0 and the sum; then a leaf 2.5 and the product
    CHECK(ag::grad(w, {x})[0] == 2.5);
    // The value of 0 * x is still IEEE's: NaN for an infinite x.
    Value inf = std::numeric_limits<double>::infinity();
    CHECK(std::isnan((inf * ag::constant(0.0)).data()));
    // The zero rule is taken inline; a stale handle must still be caught, whichever side it is on.
    Value stale;
    {
        ag::Scope inner;
        stale = 1.0;
    }
    CHECK_THROWS_WITH_AS(stale * ag::constant(0.0), doctest::Contains("*: stale handle"), std::logic_error);
    CHECK_THROWS_WITH_AS(ag::constant(-0.0) * stale, doctest::Contains("*: stale handle"), std::logic_error);
    CHECK_THROWS_AS(stale + ag::constant(1.0), std::logic_error);
    CHECK_THROWS_AS(Value() * ag::constant(0.0), std::logic_error);
}

TEST_CASE("ag::constant: what it is, and clear errors where a node is needed") {
    ag::Scope scope;
    const Value c = ag::constant(2.0);
    CHECK(c.is_constant());
    CHECK(c.is_leaf());
    CHECK(c.data() == 2.0);
    CHECK(c.grad() == 0.0);
    CHECK(std::string(c.op_name()) == "constant");
    CHECK(fmt::format("{}", c) == "Value(data=2, constant)");
    CHECK(!Value().is_constant());
    CHECK(ag::constant(0.0).data() == 0.0);  // 0.0's bits are all zero: still not an empty handle
    CHECK_NOTHROW(ag::constant(0.0) + 1.0);
    CHECK_THROWS_WITH_AS(c.backward(), doctest::Contains("backward: the Value is a constant (2"), std::logic_error);
    CHECK_THROWS_WITH_AS(c.set_grad(1.0), doctest::Contains("set_grad: the Value is a constant"), std::logic_error);
    CHECK_THROWS_WITH_AS(c.set_data(1.0), doctest::Contains("set_data: the Value is a constant"), std::logic_error);
    const ag::ScalarFunction flat = [](const std::vector<Value>&) { return ag::constant(2.0); };
    CHECK_THROWS_WITH_AS(ag::hvp(flat, {1.0}, {1.0}), doctest::Contains("hvp: the Value is a constant"),
                         std::logic_error);
    // ag::grad: a constant input gets 0; a constant function, zeros.
    Value x = 1.5;
    const Value f = x * x + c;
    CHECK(ag::grad(f, {x, c}) == std::vector<double>{3.0, 0.0});
    CHECK(ag::grad(c, {x}) == std::vector<double>{0.0});
    const auto g = ag::grad(f, {x, c}, ag::create_graph);
    CHECK(g[0].data() == 3.0);
    CHECK(g[1].data() == 0.0);
    CHECK(ag::grad(c * c, {x}, ag::create_graph)[0].data() == 0.0);
    // Generic code: the same call gives a plain number for double.
    CHECK(ag::constant<double>(4.0) == 4.0);
    CHECK(ag::constant<Value>(4.0).is_constant());
    // A constant in a tensor expression is a 0-d tensor without gradient.
    ag::Tensor t = ag::Tensor::full({2}, 1.0);
    const ag::Tensor s = ag::sum(t * ag::constant(3.0));
    s.backward();
    CHECK(t.grad()[0] == 3.0);
    CHECK(t.grad()[1] == 3.0);
}
