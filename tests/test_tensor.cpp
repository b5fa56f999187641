// ag::Tensor operations: values against hand formulas, gradients against
// central differences (ag::check_gradients) at shapes that broadcast, and
// closed forms where they exist.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

namespace {

using ag::Shape;
using ag::Tensor;
using Inputs = std::vector<Tensor>;

// A tensor of the given shape with values uniform in [lo, hi).
Tensor random(const Shape& shape, std::uint64_t seed, double lo = -2, double hi = 2) {
    return Tensor::rand(shape, seed, lo, hi);
}

// Values bounded away from 0 (for /, log, sqrt, pow and the kinks of
// relu/abs, where a central difference straddling 0 is meaningless).
Tensor away_from_zero(const Shape& shape, std::uint64_t seed, bool positive = false) {
    Tensor t = Tensor::rand(shape, seed, 0.3, 2.0);
    if (!positive) {
        ag::Rng rng(seed + 1000);
        for (double& v : t.data())
            if (rng.uniform() < 0.5) v = -v;
    }
    return t;
}

void check_grad(const std::function<Tensor(const Inputs&)>& f, const Inputs& inputs) {
    const ag::GradCheckReport r = ag::check_gradients(f, inputs);
    INFO(r.table());
    CHECK(r.ok());
    CHECK(!r.inputs.empty());
}

// The shape pairs of the issue: same shape, row vector + matrix, column +
// row, scalar + matrix, and a 3-D case.
const std::vector<std::pair<Shape, Shape>> kBroadcastPairs = {
    {Shape{3, 4}, Shape{3, 4}}, {Shape{4}, Shape{3, 4}}, {Shape{3, 1}, Shape{1, 4}},
    {Shape{}, Shape{3, 4}},     {Shape{3, 4}, Shape{1}}, {Shape{2, 1, 3}, Shape{4, 1}},
};

}  // namespace

TEST_CASE("shape: rank / size / printing / broadcast result shapes") {
    const Shape s{2, 3, 4};
    CHECK(s.rank() == 3);
    CHECK(s.numel() == 24);
    CHECK(s[1] == 3);
    CHECK(s.str() == "[2, 3, 4]");
    CHECK(Shape{}.str() == "[]");
    CHECK(Shape{}.numel() == 1);
    CHECK(fmt::format("{}", Shape{5}) == "[5]");
    std::size_t n = 7;  // sizes from size_t variables work in braces
    CHECK(Shape{n, 2}.numel() == 14);
    const std::vector<std::int64_t> long_list{1, 2, 3, 4, 5};
    CHECK_THROWS_AS(Shape(std::span<const std::int64_t>(long_list)), std::invalid_argument);

    ag::Scope scope;
    CHECK((Tensor::zeros({4}) + Tensor::zeros({3, 1})).shape() == Shape{3, 4});
    CHECK((Tensor::zeros({2, 1, 3}) * Tensor::zeros({4, 1})).shape() == Shape{2, 4, 3});
    CHECK((Tensor::scalar(1) - Tensor::zeros({2, 2})).shape() == Shape{2, 2});
}

TEST_CASE("creation: values / zeros/ones/full/arange") {
    ag::Scope scope;
    const Tensor t({2, 3}, {1, 2, 3, 4, 5, 6});
    CHECK(t.shape() == Shape{2, 3});
    CHECK(t.at({1, 2}) == 6);
    CHECK(t.at({0, 1}) == 2);
    CHECK(t.to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6});
    CHECK(t.is_leaf());
    CHECK(t.requires_grad());
    CHECK(Tensor::zeros({2, 2}).to_vector() == std::vector<double>(4, 0.0));
    CHECK(Tensor::ones({3}).to_vector() == std::vector<double>(3, 1.0));
    CHECK(Tensor::full({2}, 2.5).to_vector() == std::vector<double>{2.5, 2.5});
    CHECK(Tensor::arange(4).to_vector() == std::vector<double>{0, 1, 2, 3});
    CHECK(Tensor::arange(1, 2, 0.25).to_vector() == std::vector<double>{1, 1.25, 1.5, 1.75});
    CHECK(Tensor::arange(3, 0, -1).to_vector() == std::vector<double>{3, 2, 1});
    CHECK(Tensor::arange(2, 2).numel() == 0);
    CHECK(Tensor::scalar(7).item() == 7);
    CHECK(Tensor::scalar(7).rank() == 0);
    CHECK(t.size(-1) == 3);
    CHECK(t.size(0) == 2);
    CHECK_THROWS_AS(t.size(2), std::invalid_argument);
    CHECK_THROWS_AS(Tensor({2, 2}, {1, 2, 3}), std::invalid_argument);
    CHECK_THROWS_AS(Tensor::arange(0, 1, 0), std::invalid_argument);
    CHECK_THROWS_AS(Tensor::zeros({-1, 2}), std::invalid_argument);
    CHECK_THROWS_AS(t.at({2, 0}), std::out_of_range);

    // float32 rounds the given doubles.
    const ag::Tensor32 f({2}, {0.1f, 1e-3f});
    CHECK(f.data()[0] == 0.1f);
    CHECK(ag::Tensor32::dtype == ag::DType::float32);
    const Tensor back = f.to<double>();
    CHECK(back.data()[0] == static_cast<double>(0.1f));
}

TEST_CASE("random: mt19937_64 stream as specified / reproducible seeds / moments") {
    // The C++ standard fixes the 10000th output of a default-seeded
    // mt19937_64 ([rand.predef]); Rng(5489) is that engine.
    ag::Rng rng(5489);
    std::uint64_t x = 0;
    for (int i = 0; i < 10000; ++i) x = rng.next_u64();
    CHECK(x == 9981545732273789042ull);

    ag::Scope scope;
    const Tensor a = Tensor::randn({1000}, 42), b = Tensor::randn({1000}, 42), c = Tensor::randn({1000}, 43);
    CHECK(a.to_vector() == b.to_vector());
    CHECK(a.to_vector() != c.to_vector());

    // 200000 normals: mean 0 and variance 1 within ~6 standard errors.
    const Tensor n = Tensor::randn({200000}, 7, 3.0, 2.0);
    const std::vector<double> v = n.to_vector();
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
    double var = 0, third = 0;
    for (double e : v) {
        var += (e - mean) * (e - mean);
        third += std::pow((e - mean) / 2.0, 3);
    }
    var /= v.size();
    CHECK(std::fabs(mean - 3.0) < 0.03);  // standard error 0.0045
    CHECK(std::sqrt(var) == doctest::Approx(2.0).epsilon(0.01));
    CHECK(std::fabs(third / v.size()) < 0.03);  // symmetric
    // Within 1 sigma: 68.27%.
    const auto within = std::count_if(v.begin(), v.end(), [](double e) { return std::fabs(e - 3.0) < 2.0; });
    CHECK(static_cast<double>(within) / v.size() == doctest::Approx(0.6827).epsilon(0.01));

    const Tensor u = Tensor::rand({100000}, 9, -1.0, 3.0);
    const auto [lo, hi] = std::minmax_element(u.data().begin(), u.data().end());
    CHECK(*lo >= -1.0);
    CHECK(*hi < 3.0);
    CHECK(*lo < -0.99);
    CHECK(*hi > 2.99);
    const double umean = std::accumulate(u.data().begin(), u.data().end(), 0.0) / 100000;
    CHECK(umean == doctest::Approx(1.0).epsilon(0.01));

    // below(): unbiased integers; shuffle is a permutation.
    ag::Rng r2(1);
    std::vector<int> counts(3);
    for (int i = 0; i < 30000; ++i) ++counts[r2.below(3)];
    for (int c3 : counts) CHECK(c3 == doctest::Approx(10000).epsilon(0.05));
    std::vector<int> perm(50);
    std::iota(perm.begin(), perm.end(), 0);
    r2.shuffle(std::span<int>(perm));
    std::vector<int> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted[0] == 0);
    CHECK(sorted[49] == 49);
    CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end());
    CHECK(perm != sorted);
}

TEST_CASE("elementwise binary ops: values with broadcasting") {
    ag::Scope scope;
    const Tensor m({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor row({3}, {10, 20, 30});
    const Tensor col({2, 1}, {100, 200});
    CHECK((m + row).to_vector() == std::vector<double>{11, 22, 33, 14, 25, 36});
    CHECK((m - col).to_vector() == std::vector<double>{-99, -98, -97, -196, -195, -194});
    CHECK((col * row).to_vector() == std::vector<double>{1000, 2000, 3000, 2000, 4000, 6000});
    CHECK((row / m).to_vector() == std::vector<double>{10, 10, 10, 2.5, 4, 5});
    CHECK((m + 1.0).to_vector() == std::vector<double>{2, 3, 4, 5, 6, 7});
    CHECK((1.0 - m).to_vector() == std::vector<double>{0, -1, -2, -3, -4, -5});
    CHECK((m * 2).to_vector() == std::vector<double>{2, 4, 6, 8, 10, 12});
    CHECK((6.0 / m).to_vector() == std::vector<double>{6, 3, 2, 1.5, 1.2, 1});
    CHECK((m / 2.0).to_vector() == std::vector<double>{0.5, 1, 1.5, 2, 2.5, 3});
    CHECK((m - 1.0).to_vector() == std::vector<double>{0, 1, 2, 3, 4, 5});
    CHECK((-m).to_vector() == std::vector<double>{-1, -2, -3, -4, -5, -6});
    CHECK(ag::pow(m, 2.0).to_vector() == std::vector<double>{1, 4, 9, 16, 25, 36});
    CHECK(ag::pow(m, row / 10.0).to_vector() == std::vector<double>{1, 4, 27, 4, 25, 216});
}

TEST_CASE("elementwise binary ops: gradients with broadcasting (central differences)") {
    std::uint64_t seed = 1;
    for (const auto& [sa, sb] : kBroadcastPairs) {
        CAPTURE(sa.str());
        CAPTURE(sb.str());
        const Tensor a = random(sa, seed++), b = random(sb, seed++);
        const Tensor bz = away_from_zero(sb, seed++);
        check_grad([](const Inputs& x) { return x[0] + x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] - x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[1] - x[0]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] * x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] / x[1]; }, {a, bz});
        check_grad([](const Inputs& x) { return ag::pow(x[0], x[1]); }, {away_from_zero(sa, seed++, true), b});
        check_grad([](const Inputs& x) { return x[0] * x[0] + x[1]; }, {a, b});  // one input used twice
    }
}

TEST_CASE("elementwise ops at randomly drawn broadcastable shapes: gradients") {
    // Draw an output shape of rank 1..3 with sizes 1..4, then derive each
    // operand by dropping some leading axes and setting some sizes to 1.
    ag::Rng rng(2024);
    auto draw_operand = [&](const Shape& out) {
        const int drop = static_cast<int>(rng.below(static_cast<std::uint64_t>(out.rank()) + 1));
        std::vector<std::int64_t> dims;
        for (int a = drop; a < out.rank(); ++a) dims.push_back(rng.uniform() < 0.35 ? 1 : out[a]);
        return Shape(std::span<const std::int64_t>(dims));
    };
    for (int trial = 0; trial < 12; ++trial) {
        std::vector<std::int64_t> dims(1 + rng.below(3));
        for (auto& d : dims) d = static_cast<std::int64_t>(1 + rng.below(4));
        const Shape out{std::span<const std::int64_t>(dims)};
        const Shape sa = draw_operand(out), sb = draw_operand(out);
        CAPTURE(sa.str());
        CAPTURE(sb.str());
        const std::uint64_t seed = 500 + static_cast<std::uint64_t>(trial) * 10;
        const Tensor a = random(sa, seed), b = random(sb, seed + 1), bz = away_from_zero(sb, seed + 2);
        check_grad([](const Inputs& x) { return x[0] + x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] - x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] * x[1]; }, {a, b});
        check_grad([](const Inputs& x) { return x[0] / x[1]; }, {a, bz});
        check_grad([](const Inputs& x) { return ag::tanh(x[0]) * ag::exp(x[1]) - ag::sigmoid(x[1]); }, {a, b});
    }
}

TEST_CASE("scalar on either side and unary ops: gradients") {
    const Tensor a = random({3, 4}, 11);
    const Tensor nz = away_from_zero({3, 4}, 12);
    const Tensor pos = away_from_zero({3, 4}, 13, true);
    check_grad([](const Inputs& x) { return 2.5 + x[0]; }, {a});
    check_grad([](const Inputs& x) { return x[0] - 1.5; }, {a});
    check_grad([](const Inputs& x) { return 1.5 - x[0]; }, {a});
    check_grad([](const Inputs& x) { return x[0] * -3.0; }, {a});
    check_grad([](const Inputs& x) { return 3.0 / x[0]; }, {nz});
    check_grad([](const Inputs& x) { return x[0] / 4.0; }, {a});
    check_grad([](const Inputs& x) { return -x[0]; }, {a});
    check_grad([](const Inputs& x) { return ag::pow(x[0], 3.0); }, {a});
    check_grad([](const Inputs& x) { return ag::pow(x[0], 0.5); }, {pos});
    check_grad([](const Inputs& x) { return ag::exp(x[0]); }, {a});
    check_grad([](const Inputs& x) { return ag::log(x[0]); }, {pos});
    check_grad([](const Inputs& x) { return ag::sqrt(x[0]); }, {pos});
    check_grad([](const Inputs& x) { return ag::tanh(x[0]); }, {a});
    check_grad([](const Inputs& x) { return ag::sigmoid(x[0]); }, {a});
    check_grad([](const Inputs& x) { return ag::relu(x[0]); }, {nz});
    check_grad([](const Inputs& x) { return ag::abs(x[0]); }, {nz});

    // Hand formulas at a point.
    ag::Scope scope;
    const Tensor x({3}, {-1.0, 0.0, 2.0});
    CHECK(ag::relu(x).to_vector() == std::vector<double>{0, 0, 2});
    CHECK(ag::abs(x).to_vector() == std::vector<double>{1, 0, 2});
    CHECK(ag::sigmoid(x).data()[1] == 0.5);
    CHECK(ag::tanh(x).data()[2] == std::tanh(2.0));
    CHECK(ag::exp(x).data()[0] == std::exp(-1.0));
    ag::sum(ag::relu(x) + ag::abs(x)).backward();
    // relu'(0) = abs'(0) = 0, as in PyTorch.
    CHECK(x.grad()[0] == -1.0);
    CHECK(x.grad()[1] == 0.0);
    CHECK(x.grad()[2] == 2.0);
}

TEST_CASE("matmul: values / closed-form backward / gradients / batched 3-D @ 2-D") {
    ag::Scope scope;
    const Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor b({3, 2}, {7, 8, 9, 10, 11, 12});
    const Tensor c = ag::matmul(a, b);
    CHECK(c.shape() == Shape{2, 2});
    CHECK(c.to_vector() == std::vector<double>{58, 64, 139, 154});

    // dA = dC·Bᵀ, dB = Aᵀ·dC for an arbitrary upstream dC (via sum(C * dC)).
    const Tensor A = random({4, 5}, 21), B = random({5, 3}, 22), dC = random({4, 3}, 23);
    dC.set_requires_grad(false);
    ag::sum(ag::matmul(A, B) * dC).backward();
    for (int i = 0; i < 4; ++i)
        for (int k = 0; k < 5; ++k) {
            double expect = 0;
            for (int j = 0; j < 3; ++j) expect += dC.at({i, j}) * B.at({k, j});
            CHECK(A.grad()[i * 5 + k] == doctest::Approx(expect).epsilon(1e-14));
        }
    for (int k = 0; k < 5; ++k)
        for (int j = 0; j < 3; ++j) {
            double expect = 0;
            for (int i = 0; i < 4; ++i) expect += A.at({i, k}) * dC.at({i, j});
            CHECK(B.grad()[k * 3 + j] == doctest::Approx(expect).epsilon(1e-14));
        }

    check_grad([](const Inputs& x) { return ag::matmul(x[0], x[1]); }, {random({3, 4}, 24), random({4, 2}, 25)});
    check_grad([](const Inputs& x) { return ag::matmul(x[0], x[1]); }, {random({2, 3, 4}, 26), random({4, 5}, 27)});
    check_grad([](const Inputs& x) { return ag::matmul(x[0], x[0]); }, {random({3, 3}, 28)});

    // Batched: each batch is its own product.
    const Tensor X = random({2, 3, 4}, 29), W = random({4, 2}, 30);
    const Tensor Y = ag::matmul(X, W);
    CHECK(Y.shape() == Shape{2, 3, 2});
    for (int bt = 0; bt < 2; ++bt)
        for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 2; ++j) {
                double expect = 0;
                for (int k = 0; k < 4; ++k) expect += X.at({bt, i, k}) * W.at({k, j});
                CHECK(Y.at({bt, i, j}) == doctest::Approx(expect).epsilon(1e-14));
            }

    // Empty inner dimension: a product of zeros.
    CHECK(ag::matmul(Tensor::zeros({2, 0}), Tensor::zeros({0, 3})).to_vector() == std::vector<double>(6, 0.0));
}

TEST_CASE("linear: x @ w + b / with and without bias") {
    ag::Scope scope;
    const Tensor x({2, 2}, {1, 2, 3, 4});
    const Tensor w({2, 3}, {1, 0, -1, 2, 1, 0});
    const Tensor b({3}, {0.5, -0.5, 1});
    CHECK(ag::linear(x, w, b).to_vector() == std::vector<double>{5.5, 1.5, 0, 11.5, 3.5, -2});
    CHECK(ag::linear(x, w).to_vector() == ag::matmul(x, w).to_vector());
    check_grad([](const Inputs& in) { return ag::linear(in[0], in[1], in[2]); },
               {random({4, 3}, 31), random({3, 5}, 32), random({5}, 33)});
    check_grad([](const Inputs& in) { return ag::linear(in[0], in[1]); }, {random({2, 3, 3}, 34), random({3, 2}, 35)});
    check_grad([](const Inputs& in) { return ag::linear(in[0], in[1], in[2]); },
               {random({3}, 36), random({3, 2}, 37), random({2}, 38)});
}

// Each input's gradient against dX = Σ dY·Wᵀ, dW = Σ Xᵀ·dY, d bias = Σ dY
// over all rows, after two backward() calls: the first writes the leaf
// gradients, the second adds to them.
TEST_CASE("matmul and linear backward: closed forms / accumulating / 3-D x with a bias / inputs without a gradient") {
    ag::Scope scope;
    const Tensor X = random({2, 3, 4}, 111), W = random({4, 5}, 112), b = random({5}, 113);
    const Tensor dY1 = random({2, 3, 5}, 114).set_requires_grad(false);
    const Tensor dY2 = random({2, 3, 5}, 115).set_requires_grad(false);
    ag::sum(ag::linear(X, W, b) * dY1).backward();
    ag::sum(ag::matmul(X, W) * dY2).backward();
    const auto dY = [&](int r, int j) { return dY1.data()[r * 5 + j] + dY2.data()[r * 5 + j]; };
    for (int r = 0; r < 6; ++r)  // X as a [6, 4] matrix
        for (int k = 0; k < 4; ++k) {
            double expect = 0;
            for (int j = 0; j < 5; ++j) expect += dY(r, j) * W.at({k, j});
            CHECK(X.grad()[r * 4 + k] == doctest::Approx(expect).epsilon(1e-13));
        }
    for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 5; ++j) {
            double expect = 0;
            for (int r = 0; r < 6; ++r) expect += X.data()[r * 4 + k] * dY(r, j);
            CHECK(W.grad()[k * 5 + j] == doctest::Approx(expect).epsilon(1e-13));
        }
    for (int j = 0; j < 5; ++j) {
        double expect = 0;
        for (int r = 0; r < 6; ++r) expect += dY1.data()[r * 5 + j];  // only the linear call has a bias
        CHECK(b.grad()[j] == doctest::Approx(expect).epsilon(1e-13));
    }

    // An input that requires no gradient gets none; the other still does.
    const Tensor A = random({3, 4}, 116), B = random({4, 2}, 117), dC = random({3, 2}, 118);
    A.set_requires_grad(false);
    dC.set_requires_grad(false);
    ag::sum(ag::matmul(A, B) * dC).backward();
    CHECK(A.grad()[0] == 0);
    double expect_b00 = 0;
    for (int i = 0; i < 3; ++i) expect_b00 += A.at({i, 0}) * dC.at({i, 0});
    CHECK(B.grad()[0] == doctest::Approx(expect_b00).epsilon(1e-14));
    const Tensor P = random({3, 4}, 119), Q = random({4, 2}, 120), bias = random({2}, 121);
    Q.set_requires_grad(false);
    bias.set_requires_grad(false);
    ag::sum(ag::linear(P, Q, bias) * dC).backward();
    CHECK(Q.grad()[0] == 0);
    CHECK(bias.grad()[0] == 0);
    double expect_p00 = 0;
    for (int j = 0; j < 2; ++j) expect_p00 += dC.at({0, j}) * Q.at({0, j});
    CHECK(P.grad()[0] == doctest::Approx(expect_p00).epsilon(1e-14));
}

TEST_CASE("transpose and reshape: values and gradients") {
    ag::Scope scope;
    const Tensor a({2, 3}, {1, 2, 3, 4, 5, 6});
    const Tensor t = ag::transpose(a);
    CHECK(t.shape() == Shape{3, 2});
    CHECK(t.to_vector() == std::vector<double>{1, 4, 2, 5, 3, 6});
    const Tensor c = random({2, 3, 4}, 41);
    const Tensor ct = ag::transpose(c, 0, 2);
    CHECK(ct.shape() == Shape{4, 3, 2});
    CHECK(ct.at({3, 1, 0}) == c.at({0, 1, 3}));
    CHECK(ag::transpose(c).at({1, 3, 2}) == c.at({1, 2, 3}));
    CHECK(ag::reshape(a, {3, -1}).shape() == Shape{3, 2});
    CHECK(ag::reshape(a, {6}).to_vector() == a.to_vector());
    CHECK(ag::reshape(a, {-1}).shape() == Shape{6});
    check_grad([](const Inputs& x) { return ag::transpose(x[0]); }, {random({3, 4}, 42)});
    check_grad([](const Inputs& x) { return ag::transpose(x[0], 0, 1) * ag::transpose(x[0], 0, 1); },
               {random({2, 3, 2}, 43)});
    check_grad([](const Inputs& x) { return ag::reshape(x[0], {2, -1}) * 3.0; }, {random({3, 4}, 44)});

    // transpose's backward swaps the gradient back: written by the first
    // backward(), added to by the second (g + 2g == 3g exactly).
    const Tensor d = random({2, 3, 4, 2}, 45);
    const Tensor g = random({4, 3, 2, 2}, 46).set_requires_grad(false);
    ag::sum(ag::transpose(d, 0, 2) * g).backward();
    ag::sum(ag::transpose(d, 2, 0) * g * 2.0).backward();
    for (int i = 0; i < 2; ++i)
        for (int j = 0; j < 3; ++j)
            for (int k = 0; k < 4; ++k)
                for (int l = 0; l < 2; ++l) CHECK(d.grad()[((i * 3 + j) * 4 + k) * 2 + l] == 3 * g.at({k, j, i, l}));
}

TEST_CASE("sum / mean / max: values / keepdim / gradients") {
    ag::Scope scope;
    const Tensor a({2, 3}, {1, 5, 3, 4, 2, 6});
    CHECK(ag::sum(a).item() == 21);
    CHECK(ag::sum(a).shape() == Shape{});
    CHECK(ag::mean(a).item() == 3.5);
    CHECK(ag::max(a).item() == 6);
    CHECK(ag::sum(a, 0).to_vector() == std::vector<double>{5, 7, 9});
    CHECK(ag::sum(a, 1).to_vector() == std::vector<double>{9, 12});
    CHECK(ag::sum(a, -1, true).shape() == Shape{2, 1});
    CHECK(ag::mean(a, 0).to_vector() == std::vector<double>{2.5, 3.5, 4.5});
    CHECK(ag::max(a, 1).to_vector() == std::vector<double>{5, 6});
    CHECK(ag::max(a, 0, true).shape() == Shape{1, 3});
    CHECK(ag::max(a, 0, true).to_vector() == std::vector<double>{4, 5, 6});

    const Tensor c = random({2, 3, 4}, 51);
    for (int axis : {0, 1, 2, -1}) {
        for (bool keep : {false, true}) {
            check_grad([=](const Inputs& x) { return ag::sum(x[0], axis, keep); }, {c});
            check_grad([=](const Inputs& x) { return ag::mean(x[0], axis, keep); }, {c});
            check_grad([=](const Inputs& x) { return ag::max(x[0], axis, keep); }, {c});
        }
    }
    check_grad([](const Inputs& x) { return ag::sum(x[0]); }, {c});
    check_grad([](const Inputs& x) { return ag::mean(x[0]); }, {c});
    check_grad([](const Inputs& x) { return ag::max(x[0]); }, {c});

    // Ties split the gradient evenly.
    const Tensor t({4}, {1, 3, 3, 0});
    ag::max(t).backward();
    CHECK(t.grad()[0] == 0);
    CHECK(t.grad()[1] == 0.5);
    CHECK(t.grad()[2] == 0.5);
    CHECK(t.grad()[3] == 0);
    // NaN propagates through max.
    const Tensor n({3}, {1, std::nan(""), 2});
    CHECK(std::isnan(ag::max(n).item()));
    // The same in a longer row (the four-lane loop, and the tail after it),
    // with the gradient going to the NaN input only; infinities are no NaN.
    for (int at : {0, 5, 8}) {
        CAPTURE(at);
        std::vector<double> v(9, 1.0);
        v[4] = 7.0;
        v[static_cast<std::size_t>(at)] = std::nan("");
        const Tensor r({9}, v);
        const Tensor m = ag::max(r);
        CHECK(std::isnan(m.item()));
        m.backward();
        for (int k = 0; k < 9; ++k) CHECK(std::isnan(r.grad()[static_cast<std::size_t>(k)]) == (k == at));
    }
    const double inf = std::numeric_limits<double>::infinity();
    CHECK(ag::max(Tensor({6}, {-inf, 1, inf, 2, 3, 4})).item() == inf);
    CHECK(ag::max(Tensor({6}, {-inf, -inf, -inf, -inf, -inf, -inf})).item() == -inf);
    CHECK(ag::max(Tensor({6}, {-5, -4, -3, -2, -1, -6})).item() == -1.0);
}

TEST_CASE("softmax and log_softmax: rows sum to 1 / stable at +-1000 / gradients") {
    ag::Scope scope;
    const Tensor x = random({4, 5}, 61, -3, 3);
    const Tensor s = ag::softmax(x);
    for (int r = 0; r < 4; ++r) {
        double total = 0;
        for (int j = 0; j < 5; ++j) total += s.at({r, j});
        CHECK(total == doctest::Approx(1.0).epsilon(1e-15));
    }
    const Tensor s0 = ag::softmax(x, 0);
    for (int j = 0; j < 5; ++j) {
        double total = 0;
        for (int r = 0; r < 4; ++r) total += s0.at({r, j});
        CHECK(total == doctest::Approx(1.0).epsilon(1e-15));
    }
    // By definition: exp(x_j) / sum_k exp(x_k).
    double denom = 0;
    for (int j = 0; j < 5; ++j) denom += std::exp(x.at({2, j}));
    CHECK(s.at({2, 3}) == doctest::Approx(std::exp(x.at({2, 3})) / denom).epsilon(1e-14));
    CHECK(ag::log_softmax(x).at({2, 3}) == doctest::Approx(x.at({2, 3}) - std::log(denom)).epsilon(1e-14));

    const Tensor big({2, 3}, {1000, 0, -1000, -1000, -1000, 1000});
    const Tensor sb = ag::softmax(big);
    CHECK(sb.at({0, 0}) == 1.0);
    CHECK(sb.at({0, 1}) == doctest::Approx(std::exp(-1000.0)));  // 0 in double
    CHECK(sb.at({1, 2}) == 1.0);
    const Tensor lb = ag::log_softmax(big);
    CHECK(lb.at({0, 0}) == 0.0);
    CHECK(lb.at({0, 1}) == -1000.0);
    CHECK(lb.at({0, 2}) == -2000.0);
    CHECK(lb.at({1, 0}) == -2000.0);
    ag::sum(lb * Tensor({2, 3}, {1, 2, 3, 4, 5, 6}).set_requires_grad(false)).backward();
    for (double g : big.grad()) CHECK(std::isfinite(g));
    CHECK(big.grad()[0] == doctest::Approx(1 - 6.0));  // g_0 - softmax_0 * sum(g)

    for (int axis : {0, 1, -1}) {
        check_grad([=](const Inputs& in) { return ag::softmax(in[0], axis); }, {x});
        check_grad([=](const Inputs& in) { return ag::log_softmax(in[0], axis); }, {x});
    }
    check_grad([](const Inputs& in) { return ag::softmax(in[0], 1); }, {random({2, 3, 2}, 62)});
}

TEST_CASE("cross_entropy: matches the scalar engine element by element / stable / gradients") {
    const Tensor logits = random({5, 4}, 71, -3, 3);
    const std::vector<int> labels{0, 3, 1, 1, 2};
    double tensor_loss = 0;
    std::vector<double> tensor_grad;
    {
        ag::Scope scope;
        const Tensor l = logits.detach().set_requires_grad(true);
        const Tensor loss = ag::cross_entropy(l, labels);
        loss.backward();
        tensor_loss = loss.item();
        tensor_grad = std::vector<double>(l.grad().begin(), l.grad().end());
    }
    {
        // The same loss from ag::Value: -log(exp(x_label) / sum exp(x)), mean over rows.
        ag::Scope scope;
        std::vector<ag::Value> x;
        for (double v : logits.data()) x.emplace_back(v);
        ag::Value total = 0.0;
        for (int r = 0; r < 5; ++r) {
            ag::Value denom = 0.0;
            for (int j = 0; j < 4; ++j) denom = denom + ag::exp(x[r * 4 + j]);
            total = total - ag::log(ag::exp(x[r * 4 + labels[r]]) / denom);
        }
        const ag::Value loss = total / 5.0;
        loss.backward();
        CHECK(tensor_loss == doctest::Approx(loss.data()).epsilon(1e-12));
        for (int i = 0; i < 20; ++i) CHECK(tensor_grad[i] == doctest::Approx(x[i].grad()).epsilon(1e-12));
    }
    check_grad([&](const Inputs& in) { return ag::cross_entropy(in[0], labels); }, {logits});
    const std::vector<std::int64_t> labels64{2, 0, 1};
    check_grad([&](const Inputs& in) { return ag::cross_entropy(in[0], labels64); }, {random({3, 3}, 72)});

    ag::Scope scope;
    const Tensor big({2, 2}, {1000, -1000, -1000, 1000});
    const std::vector<int> right{0, 1}, wrong{1, 0};
    CHECK(ag::cross_entropy(big, right).item() == 0.0);
    CHECK(ag::cross_entropy(big, wrong).item() == 2000.0);
    ag::cross_entropy(big, wrong).backward();
    CHECK(big.grad()[0] == 0.5);  // (softmax - onehot) / rows
    CHECK(big.grad()[1] == -0.5);
}

TEST_CASE("binary_cross_entropy_with_logits / hinge / mse_loss: formulas / stability / gradients") {
    ag::Scope scope;
    const Tensor x({4}, {-2, -0.5, 0.5, 3});
    const Tensor t({4}, {0, 1, 0.25, 1});
    double expect = 0;
    for (int i = 0; i < 4; ++i) {
        const double p = 1 / (1 + std::exp(-x.data()[i]));
        expect -= t.data()[i] * std::log(p) + (1 - t.data()[i]) * std::log(1 - p);
    }
    CHECK(ag::binary_cross_entropy_with_logits(x, t).item() == doctest::Approx(expect / 4).epsilon(1e-14));
    const Tensor far({2}, {1000, -1000}), ones({2}, {1, 1});
    CHECK(ag::binary_cross_entropy_with_logits(far, ones).item() == 500.0);  // (0 + 1000) / 2
    check_grad([](const Inputs& in) { return ag::binary_cross_entropy_with_logits(in[0], in[1]); },
               {random({3, 2}, 81), Tensor::rand({3, 2}, 82, 0, 1)});

    const Tensor s({4}, {2, 0.5, -0.5, -3});
    const Tensor y({4}, {1, 1, 1, -1});
    CHECK(ag::hinge(s, y).item() == doctest::Approx((0 + 0.5 + 1.5 + 0) / 4.0));
    check_grad([](const Inputs& in) { return ag::hinge(in[0], in[1]); },
               {Tensor({4}, {0.3, -0.2, 1.7, -2.5}), Tensor({4}, {1, -1, 1, 1})});  // element 2 inactive

    const Tensor p({2, 2}, {1, 2, 3, 4}), q({2, 2}, {1, 0, 5, 4});
    CHECK(ag::mse_loss(p, q).item() == 2.0);  // (0 + 4 + 4 + 0) / 4
    check_grad([](const Inputs& in) { return ag::mse_loss(in[0], in[1]); }, {random({2, 3}, 83), random({2, 3}, 84)});
}

TEST_CASE("select_rows and concat: values and gradients") {
    ag::Scope scope;
    const Tensor a({3, 2}, {1, 2, 3, 4, 5, 6});
    const std::vector<int> rows{2, 0, 2};
    const Tensor r = ag::select_rows(a, rows);
    CHECK(r.shape() == Shape{3, 2});
    CHECK(r.to_vector() == std::vector<double>{5, 6, 1, 2, 5, 6});
    ag::sum(r).backward();
    CHECK(a.grad()[0] == 1);
    CHECK(a.grad()[2] == 0);  // row 1 not picked
    CHECK(a.grad()[4] == 2);  // row 2 picked twice
    check_grad([&](const Inputs& in) { return ag::select_rows(in[0], rows); }, {random({3, 2}, 91)});
    const std::vector<std::int64_t> rows64{1};
    check_grad([&](const Inputs& in) { return ag::select_rows(in[0], rows64); }, {random({3, 2, 2}, 92)});

    const Tensor b({1, 2}, {7, 8});
    CHECK(ag::concat({a, b}).to_vector() == std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8});
    const Tensor c({3, 1}, {9, 10, 11});
    const Tensor ac = ag::concat({a, c}, 1);
    CHECK(ac.shape() == Shape{3, 3});
    CHECK(ac.to_vector() == std::vector<double>{1, 2, 9, 3, 4, 10, 5, 6, 11});
    check_grad(
        [](const Inputs& in) {
            return ag::concat({in[0], in[1], in[2], in[0]}, 1);
        },
        {random({2, 2}, 93), random({2, 1}, 94), random({2, 3}, 95)});
    check_grad(
        [](const Inputs& in) {
            return ag::concat({in[0], in[1]}, 0);
        },
        {random({1, 3}, 96), random({2, 3}, 97)});
}

TEST_CASE("sizes past int64: numel / arange / reshape / concat / broadcasting throw std::length_error") {
    constexpr std::int64_t big = std::int64_t{1} << 32;
    constexpr std::int64_t int64_max = std::numeric_limits<std::int64_t>::max();
    CHECK_THROWS_WITH_AS((void)Shape({big, big}).numel(),
                         "numel: the sizes of shape [4294967296, 4294967296] multiply past the int64 range (max "
                         "9223372036854775807)",
                         std::length_error);
    CHECK_THROWS_AS((void)Shape({big, big, 0}).numel(), std::length_error);  // an empty axis does not excuse it
    CHECK_THROWS_AS((void)Shape({2, int64_max}).numel(), std::length_error);
    CHECK(Shape{int64_max}.numel() == int64_max);
    CHECK(Shape{big, 0, big / 4}.numel() == 0);  // the nonzero sizes multiply to 2^62
    CHECK(Shape{-1, big}.numel() == -big);       // reshape's -1

    ag::Scope scope;
    CHECK_THROWS_AS(Tensor::zeros({big, big}), std::length_error);
    CHECK_THROWS_AS(Tensor({big, big}, std::vector<double>{}), std::length_error);
    CHECK_THROWS_WITH_AS(Tensor::arange(0, 1e300),
                         "arange: start 0, stop 1e+300, step 1: 1e+300 elements exceed the int64 range",
                         std::length_error);
    CHECK_THROWS_AS(Tensor::arange(-1e308, 1e308), std::length_error);  // stop - start is inf
    CHECK_THROWS_AS(Tensor::arange(1e308, -1e308, -0.5), std::length_error);
    CHECK_THROWS_AS(Tensor::arange(0, 0x1p63), std::length_error);  // 2^63: the first count past int64
    CHECK(Tensor::arange(0, 1e300, 1e299).numel() == 10);

    // Empty tensors with large axes: the sizes still have to fit.
    const Tensor empty = Tensor::zeros({0});
    CHECK(ag::reshape(empty, {big, 0}).shape() == Shape{big, 0});
    CHECK_THROWS_AS(ag::reshape(empty, {big, big, -1}), std::length_error);
    CHECK_THROWS_AS(ag::reshape(empty, {big, big, 0}), std::length_error);
    const Tensor wide = Tensor::zeros({0, std::int64_t{1} << 62});
    CHECK(ag::concat({wide, Tensor::zeros({0, 5})}, 1).shape() == Shape{0, (std::int64_t{1} << 62) + 5});
    CHECK_THROWS_WITH_AS(ag::concat({wide, wide}, 1),
                         "concat: the sizes along axis 1 add up past the int64 range (max 9223372036854775807) at "
                         "part 1, of shape [0, 4611686018427387904]",
                         std::length_error);
    CHECK_THROWS_AS(Tensor::zeros({0, big, 1}) + Tensor::zeros({0, 1, big}), std::length_error);
}

TEST_CASE("a size past the address space is refused, and the refusal leaves the tensor record as it was") {
    // 2^61 doubles fit int64 but not in bytes (2^64): the byte count used to
    // wrap to 0 and the fill wrote past a 0-byte buffer.
    CHECK_THROWS_WITH_AS(Tensor::full({std::int64_t{1} << 61}, 1.0),
                         "full: shape [2305843009213693952] needs 2305843009213693952 elements of 8 bytes, more "
                         "than memory can address",
                         std::length_error);
    CHECK_THROWS_AS(ag::Tensor32::zeros({std::int64_t{1} << 62}), std::length_error);

    // The refusal comes before the record is added: were it after, the
    // half-made record (with no tape node) would stop every later rewind and
    // each step's tensors would pile up.
    const Tensor kept = Tensor::ones({1});  // a node before the mark, as in a training loop
    const ag::Tape::Mark mark = ag::tape().mark();
    std::size_t bytes_after_first = 0;
    for (int step = 0; step < 50; ++step) {
        ag::Scope scope;
        CHECK_THROWS_AS(Tensor::full({std::int64_t{1} << 61}, 1.0), std::length_error);
        const Tensor ok = Tensor::ones({2}) * 3.0;  // the store still works after the refusal
        CHECK(ok.to_vector() == std::vector<double>{3, 3});
        if (step == 0) bytes_after_first = ag::tape().bytes_reserved();
    }
    CHECK(ag::tape().size() == mark.nodes);
    CHECK(ag::tape().bytes_reserved() == bytes_after_first);
    CHECK(kept.to_vector() == std::vector<double>{1});
}

TEST_CASE("a composite: two-layer network with every kind of op / gradients") {
    const std::vector<int> labels{1, 0, 2};
    check_grad(
        [&](const Inputs& in) {
            const Tensor h = ag::tanh(ag::linear(in[0], in[1], in[2]));
            const Tensor z = ag::matmul(h, in[3]) + in[4];
            return ag::cross_entropy(z, labels) + 0.1 * ag::mean(ag::sigmoid(z) * ag::softmax(z, 0));
        },
        {random({3, 4}, 101), random({4, 5}, 102), random({5}, 103), random({5, 3}, 104), random({1, 3}, 105)});
}
