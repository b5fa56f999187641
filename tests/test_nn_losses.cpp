// Losses: values against hand formulas, gradients against central
// differences (ag::check_gradients), stability, and errors.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>

using ag::Value;
using namespace ag::nn;

namespace {
void check_gradient(const std::function<Value(const std::vector<Value>&)>& f, const std::vector<double>& point) {
    const ag::GradCheckReport report = ag::check_gradients(f, point);
    INFO(report.table());
    CHECK(report.ok());
}
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }
}  // namespace

TEST_CASE("mse_loss and half_squared_error") {
    ag::Scope scope;
    const std::vector<Value> p{Value(1.0), Value(2.5), Value(-1.0)};
    // ((1-0)² + (2.5-2)² + (-1-1)²) / 3 = (1 + 0.25 + 4) / 3
    CHECK(mse_loss(p, {0.0, 2.0, 1.0}).data() == doctest::Approx(5.25 / 3).epsilon(1e-15));
    // Σ ½(d − y)² = 5.25 / 2; d/dy_i = y_i − d_i
    const Value e = half_squared_error(p, {0.0, 2.0, 1.0});
    CHECK(e.data() == doctest::Approx(2.625).epsilon(1e-15));
    e.backward();
    CHECK(p[0].grad() == 1.0);
    CHECK(p[1].grad() == 0.5);
    CHECK(p[2].grad() == -2.0);
    check_gradient([](const std::vector<Value>& v) { return mse_loss(v, {0.3, -0.2}); }, {1.1, 0.4});
}

TEST_CASE("scalar cross_entropy: value, gradient softmax − one-hot, stability at ±1000") {
    ag::Scope scope;
    const std::vector<Value> z{Value(1.0), Value(2.0), Value(0.5)};
    const double s = std::exp(1.0) + std::exp(2.0) + std::exp(0.5);
    const Value loss = cross_entropy(z, 0);
    CHECK(loss.data() == doctest::Approx(std::log(s) - 1.0).epsilon(1e-14));
    loss.backward();
    CHECK(z[0].grad() == doctest::Approx(std::exp(1.0) / s - 1).epsilon(1e-14));
    CHECK(z[1].grad() == doctest::Approx(std::exp(2.0) / s).epsilon(1e-14));
    // Logits of ±1000: a naive exp overflows; here loss is exact.
    CHECK(cross_entropy({Value(1000.0), Value(-1000.0)}, 0).data() == 0.0);
    CHECK(cross_entropy({Value(1000.0), Value(-1000.0)}, 1).data() == doctest::Approx(2000.0).epsilon(1e-15));
    CHECK(cross_entropy({Value(1000.0), Value(1000.0)}, 1).data() == doctest::Approx(std::log(2.0)).epsilon(1e-15));
    // Batch form: the mean of the rows.
    const Value batch =
        cross_entropy({{Value(1.0), Value(2.0), Value(0.5)}, {Value(0.0), Value(0.0), Value(0.0)}}, {0, 2});
    CHECK(batch.data() == doctest::Approx((std::log(s) - 1.0 + std::log(3.0)) / 2).epsilon(1e-14));
    check_gradient([](const std::vector<Value>& v) { return cross_entropy(v, 1); }, {0.2, -1.3, 0.7});
    CHECK_THROWS_WITH_AS(cross_entropy(z, 3), "cross_entropy: label 3 is out of range for 3 classes",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(cross_entropy({z, z}, {0, 5}), "cross_entropy: row 1: label 5 is out of range for 3 classes",
                         std::invalid_argument);
}

TEST_CASE("binary cross-entropy on probabilities and on logits") {
    ag::Scope scope;
    const Value p(0.8);
    CHECK(binary_cross_entropy(p, 1.0).data() == doctest::Approx(-std::log(0.8)).epsilon(1e-15));
    CHECK(binary_cross_entropy(p, 0.25).data() ==
          doctest::Approx(-(0.25 * std::log(0.8) + 0.75 * std::log(0.2))).epsilon(1e-14));
    // PyTorch clamps each log at -100: a confident wrong answer costs 100, not inf.
    CHECK(binary_cross_entropy(Value(0.0), 1.0).data() == 100.0);
    CHECK(binary_cross_entropy(Value(1.0), 1.0).data() == 0.0);
    // With logits: the same as BCE of sigmoid(x), stable at ±800, gradient sigmoid(x) − t.
    for (double x : {-3.0, -0.5, 0.0, 0.7, 4.0}) {
        const Value l(x);
        const Value b = binary_cross_entropy_with_logits(l, 0.3);
        CHECK(b.data() == doctest::Approx(binary_cross_entropy(Value(sigmoid(x)), 0.3).data()).epsilon(1e-12));
        b.backward();
        CHECK(l.grad() == doctest::Approx(sigmoid(x) - 0.3).epsilon(1e-12));
    }
    CHECK(binary_cross_entropy_with_logits(Value(800.0), 0.0).data() == 800.0);
    CHECK(binary_cross_entropy_with_logits(Value(-800.0), 0.0).data() == 0.0);
    const Value mean = binary_cross_entropy_with_logits({Value(0.0), Value(0.0)}, {1.0, 0.0});
    CHECK(mean.data() == doctest::Approx(std::log(2.0)).epsilon(1e-15));
    check_gradient([](const std::vector<Value>& v) { return binary_cross_entropy(v, {1.0, 0.2}); }, {0.3, 0.6});
    CHECK_THROWS_WITH_AS(binary_cross_entropy(p, 1.5), "binary_cross_entropy: target 1.5 is not in [0, 1]",
                         std::invalid_argument);
}

TEST_CASE("hinge with and without L2 (micrograd's SVM loss)") {
    ag::Scope scope;
    const std::vector<Value> scores{Value(2.0), Value(0.5), Value(-0.25)};
    // max(0, 1 − 2) + max(0, 1 − 0.5) + max(0, 1 − 0.25) with labels +1, +1, −1 → (0 + 0.5 + 0.75) / 3
    CHECK(hinge(scores, {1, 1, -1}).data() == doctest::Approx(1.25 / 3).epsilon(1e-15));
    const std::vector<Value> params{Value(0.5), Value(-2.0)};
    const Value with_l2 = hinge(scores, {1, 1, -1}, 1e-2, params);
    CHECK(with_l2.data() == doctest::Approx(1.25 / 3 + 1e-2 * 4.25).epsilon(1e-15));
    with_l2.backward();
    CHECK(params[1].grad() == doctest::Approx(2 * 1e-2 * -2.0).epsilon(1e-15));
    CHECK(scores[0].grad() == 0.0);                                      // outside the margin
    CHECK(scores[2].grad() == doctest::Approx(1.0 / 3).epsilon(1e-15));  // label −1 pushes the score down
    CHECK(l2_penalty(params).data() == 4.25);
    CHECK_THROWS_WITH_AS(hinge(scores, {1, 0, -1}), "hinge: label 0 of sample 1 is not -1 or +1",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(hinge(scores, {1, 1}), "hinge: 3 predictions but 2 targets", std::invalid_argument);
}

TEST_CASE("tensor losses: half_squared_error, hinge with L2, and the re-exported tensor losses") {
    ag::Scope scope;
    const ag::Tensor pred({2, 2}, {1.0, 2.5, -1.0, 0.0});
    const ag::Tensor target({2, 2}, {0.0, 2.0, 1.0, 0.0});
    // ½ Σ (p − t)² / rows = ½ (1 + 0.25 + 4 + 0) / 2
    const ag::Tensor e = half_squared_error(pred, target);
    CHECK(e.item() == doctest::Approx(1.3125).epsilon(1e-15));
    e.backward();
    CHECK(pred.grad()[2] == doctest::Approx(-1.0).epsilon(1e-15));  // (p − t) / rows
    CHECK(mse_loss(pred, target).item() == doctest::Approx(5.25 / 4).epsilon(1e-15));
    // Hinge with L2 equals the scalar form on the same numbers.
    const ag::Tensor s({3}, {2.0, 0.5, -0.25});
    const ag::Tensor y({3}, {1.0, 1.0, -1.0});
    const ag::Tensor w({2}, {0.5, -2.0});
    CHECK(hinge(s, y, 1e-2, std::vector<ag::Tensor>{w}).item() ==
          doctest::Approx(1.25 / 3 + 1e-2 * 4.25).epsilon(1e-15));
    const std::vector<std::int64_t> labels{0, 1};
    const ag::Tensor logits({2, 2}, {1000.0, -1000.0, 0.0, 0.0});
    CHECK(cross_entropy(logits, std::span<const std::int64_t>(labels)).item() ==
          doctest::Approx(std::log(2.0) / 2).epsilon(1e-14));
    CHECK_THROWS_AS(half_squared_error(pred, s), std::invalid_argument);
}
