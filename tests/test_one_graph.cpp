// Scalars and tensors on one graph: conversions both ways, a Value
// broadcast over a tensor, one backward() reaching both kinds of leaves;
// vector-Jacobian products with backward(grad_output); ag::grad for tensors;
// printing gradients and handles.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>
#include <vector>

using ag::Tensor;
using ag::Tensor32;
using ag::Value;

namespace {
std::vector<double> copy(std::span<double> d) { return {d.begin(), d.end()}; }
}  // namespace

TEST_CASE("a 0-d tensor becomes a Value and back, with gradients both ways") {
    ag::Scope scope;
    Tensor t = Tensor::scalar(1.5);
    Value v = ag::to_value(t);
    CHECK(v.data() == 1.5);
    CHECK(std::string(v.op_name()) == "to_value");
    Value f = ag::tanh(v) * 2.0;
    f.backward();
    CHECK(t.grad()[0] == doctest::Approx(2 * (1 - std::tanh(1.5) * std::tanh(1.5))).epsilon(1e-15));

    Value w = 0.5;
    Tensor u = ag::to_tensor(w);
    CHECK(u.shape() == ag::Shape{});
    CHECK(u.item() == 0.5);
    ag::sum(ag::exp(u * u)).backward();
    CHECK(w.grad() == doctest::Approx(2 * 0.5 * std::exp(0.25)).epsilon(1e-15));
    // to_value of a tensor with more than one element needs an index.
    Tensor m({2, 2}, {1, 2, 3, 4});
    CHECK_THROWS_WITH_AS(ag::to_value(m), doctest::Contains("shape [2, 2]"), std::invalid_argument);
    CHECK(ag::to_value(m, {1, 0}).data() == 3.0);
    CHECK_THROWS_AS(ag::to_value(m, {2, 0}), std::out_of_range);
    CHECK_THROWS_AS(ag::to_value(m, {1}), std::invalid_argument);
}

TEST_CASE("a tensor loss plus a scalar penalty: one backward, gradients on both kinds of leaves") {
    // L = mean((x w - y)^2) + lambda * s^2 * sum(w^2) / 2, with s a Value and
    // w, x tensors; checked against the hand-derived gradient.
    ag::Scope scope;
    Tensor x({3, 2}, {0.5, -1.0, 1.5, 2.0, -0.5, 0.25});
    x.set_requires_grad(false);
    Tensor w({2, 1}, {0.3, -0.7});
    Tensor y({3, 1}, {1.0, 0.0, -1.0});
    y.set_requires_grad(false);
    Value s = 1.3;
    const double lambda = 0.1;
    Tensor data_loss = ag::mse_loss(ag::matmul(x, w), y);
    Value penalty = lambda * s * s * ag::to_value(ag::sum(w * w)) / 2.0;
    Value loss = ag::to_value(data_loss) + penalty;
    loss.backward();

    // By hand: r = x w - y; dL/dw = 2/3 x^T r + lambda s^2 w; dL/ds = lambda s sum(w^2).
    const double X[3][2] = {{0.5, -1.0}, {1.5, 2.0}, {-0.5, 0.25}}, W[2] = {0.3, -0.7}, Y[3] = {1.0, 0.0, -1.0};
    double r[3];
    for (int i = 0; i < 3; ++i) r[i] = X[i][0] * W[0] + X[i][1] * W[1] - Y[i];
    for (int j = 0; j < 2; ++j) {
        double g = lambda * 1.3 * 1.3 * W[j];
        for (int i = 0; i < 3; ++i) g += 2.0 / 3.0 * X[i][j] * r[i];
        CHECK(w.grad()[j] == doctest::Approx(g).epsilon(1e-14));
    }
    CHECK(s.grad() == doctest::Approx(lambda * 1.3 * (0.09 + 0.49)).epsilon(1e-14));
}

TEST_CASE("a Value broadcasts over a tensor like a 0-d tensor, in every operator and in float32") {
    ag::Scope scope;
    Value v = 2.0;
    Tensor t({3}, {1.0, -2.0, 4.0});
    Tensor y = v * t + t / v - (v - t) + (t - v) + v / (t * t) + t * v;
    // d/dv of sum(y): sum(t) - sum(t)/v^2 - 3 + 3... by hand:
    //   y = v t + t/v - v + t + t - v + v/t^2 + t v
    //   dy/dv = t - t/v^2 - 1 - 1 + 1/t^2 + t
    ag::sum(y).backward();
    double dv = 0;
    for (double ti : {1.0, -2.0, 4.0}) dv += ti - ti / 4.0 - 2.0 + 1.0 / (ti * ti) + ti;
    CHECK(v.grad() == doctest::Approx(dv).epsilon(1e-14));
    for (int k = 0; k < 3; ++k) {
        const double ti = t.data()[k];
        // dy/dt = v + 1/v + 1 + 1 - 2 v / t^3 + v
        CHECK(t.grad()[k] == doctest::Approx(2.0 + 0.5 + 2.0 - 4.0 / (ti * ti * ti) + 2.0).epsilon(1e-14));
    }
    Tensor32 t32({2}, {1.0f, 3.0f});
    Value u = 0.5;
    ag::sum(u * t32).backward();
    CHECK(u.grad() == doctest::Approx(4.0));
    CHECK(t32.grad()[1] == 0.5f);
}

TEST_CASE("mixed graphs check against central differences") {
    // f(a, b) = sum(tanh(a * v) + b) with v = to_value(a[1]) * b[0]: Values
    // made of tensor elements feed back into tensor ops.
    auto f = [](const std::vector<Tensor>& x) {
        Value v = ag::to_value(x[0], {1}) * ag::to_value(x[1], {0});
        return ag::sum(ag::tanh(x[0] * v) + x[1]) + ag::to_tensor(ag::sin(v));
    };
    ag::Scope scope;
    const auto report = ag::check_gradients(f, {Tensor({3}, {0.3, -0.8, 1.1}), Tensor({3}, {0.6, -0.2, 0.9})});
    INFO(report.table());
    CHECK(report.ok());
}

TEST_CASE("backward(grad_output) computes the vector-Jacobian product") {
    ag::Scope scope;
    Tensor x({2, 3}, {1, 2, 3, 4, 5, 6});
    Tensor w({3, 2}, {0.5, -1, 2, 0.25, -0.5, 1});
    Tensor y = ag::matmul(x, w);  // [2, 2]
    Tensor g({2, 2}, {1, -2, 0.5, 3});
    y.backward(g);
    // x.grad = G w^T, w.grad = x^T G (computed here by loops).
    const double X[2][3] = {{1, 2, 3}, {4, 5, 6}}, W[3][2] = {{0.5, -1}, {2, 0.25}, {-0.5, 1}},
                 G[2][2] = {{1, -2}, {0.5, 3}};
    for (int i = 0; i < 2; ++i)
        for (int k = 0; k < 3; ++k) {
            double e = 0;
            for (int j = 0; j < 2; ++j) e += G[i][j] * W[k][j];
            CHECK(x.grad()[i * 3 + k] == doctest::Approx(e).epsilon(1e-15));
        }
    for (int k = 0; k < 3; ++k)
        for (int j = 0; j < 2; ++j) {
            double e = 0;
            for (int i = 0; i < 2; ++i) e += X[i][k] * G[i][j];
            CHECK(w.grad()[k * 2 + j] == doctest::Approx(e).epsilon(1e-15));
        }
    // Elementwise: the VJP of y = a * b is (g b, g a); it accumulates like backward().
    Tensor a({3}, {1, 2, 3}), b({3}, {-1, 0.5, 2});
    Tensor p = a * b;
    p.backward(Tensor({3}, {1, 10, 100}));
    p.backward(Tensor({3}, {1, 10, 100}));
    CHECK(a.grad().data()[2] == 2 * 100 * 2.0);
    CHECK(b.grad().data()[1] == 2 * 10 * 2.0);
    CHECK_THROWS_WITH_AS(p.backward(Tensor({2}, {1, 2})), doctest::Contains("grad_output has shape [2]"),
                         std::invalid_argument);
    // backward() without a gradient still needs one element.
    CHECK_THROWS_WITH_AS(p.backward(), doctest::Contains("needs a one-element tensor"), std::invalid_argument);
}

TEST_CASE("ag::grad for tensors returns gradients as tensors and touches no .grad()") {
    ag::Scope scope;
    Tensor x({2}, {0.5, -1.5});
    Tensor w({2}, {2.0, 3.0});
    Tensor h = ag::tanh(x * w);
    Tensor f = ag::sum(h * h);
    f.backward();  // .grad() now holds something that must not change
    const std::vector<double> xg = copy(x.grad()), hg = copy(h.grad()), wg = copy(w.grad());
    const auto g = ag::grad(f, {x, w});
    REQUIRE(g.size() == 2);
    for (int k = 0; k < 2; ++k) {
        const double xv = x.data()[k], wv = w.data()[k], t = std::tanh(xv * wv);
        CHECK(g[0].data()[k] == doctest::Approx(2 * t * (1 - t * t) * wv).epsilon(1e-14));
        CHECK(g[1].data()[k] == doctest::Approx(2 * t * (1 - t * t) * xv).epsilon(1e-14));
    }
    CHECK_FALSE(g[0].requires_grad());
    CHECK(copy(x.grad()) == xg);
    CHECK(copy(h.grad()) == hg);
    // From a Value root through tensors; an input f does not use gets zeros.
    Tensor unused({3}, {1, 2, 3});
    Value v = ag::to_value(ag::sum(x * x));
    const auto gv = ag::grad(v * v, std::vector<Tensor>{x, unused});
    CHECK(gv[0].data()[0] == doctest::Approx(2 * 2.5 * 2 * 0.5));
    CHECK(gv[1].data()[2] == 0.0);
    Tensor frozen = Tensor({1}, {1.0}).set_requires_grad(false);
    CHECK_THROWS_WITH_AS(ag::grad(f, {frozen}), doctest::Contains("does not require a gradient"),
                         std::invalid_argument);
    // The scalar ag::grad reaches through tensors too, touching no .grad().
    Value a = 0.7;
    Value out = ag::to_value(ag::sum(ag::to_tensor(a) * w));
    CHECK(ag::grad(out, {a})[0] == doctest::Approx(5.0));
    CHECK(copy(w.grad()) == wg);
    CHECK(a.grad() == 0.0);
}

TEST_CASE("printing: gradients like tensors, and operator<< for Value and Tensor") {
    ag::Scope scope;
    Tensor x({2, 2}, {1, 2, 3, 4});
    ag::sum(x * x * 0.25).backward();
    CHECK(fmt::format("{}", x.grad()) == "[[0.5,   1],\n [1.5,   2]]");
    CHECK(fmt::format("{}", x.data()) == "[[1, 2],\n [3, 4]]");
    std::ostringstream os;
    Value v = 2.0;
    os << v << " | " << Tensor({2}, {1.0, 2.5}) << " | " << x.grad();
    CHECK(os.str() ==
          "Value(data=2, grad=0) | Tensor(shape=[2], dtype=float64, data=[  1, 2.5]) | [[0.5,   1],\n [1.5,   2]]");
}
