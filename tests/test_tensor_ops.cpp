// The tensor op table: one row per op, checked against central differences
// (float64) and run in float32 against float64; the table must cover every
// name in ag::tensor_op_names(), so an op added without a row fails here.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <string>
#include <vector>

using ag::Tensor;
using ag::Tensor32;

namespace {

template <class T>
using Fn = std::function<ag::BasicTensor<T>(const std::vector<ag::BasicTensor<T>>&)>;

struct Row {
    std::string name;               // what the row checks (the op and the case)
    std::vector<ag::Shape> shapes;  // input shapes
    Fn<double> f64;
    Fn<float> f32;
    double lo = -1.5, hi = 1.5;  // inputs drawn uniformly from [lo, hi)
};

// One function written once for both dtypes.
#define ROW(name, shapes, body, ...)                                                                   \
    Row {                                                                                              \
        name, shapes, [](const std::vector<Tensor>& x) -> Tensor { return body; },                     \
            [](const std::vector<Tensor32>& x) -> Tensor32 { return body; } __VA_OPT__(, ) __VA_ARGS__ \
    }

// A 0-d tensor of `like`'s dtype holding v.
template <class T>
ag::BasicTensor<T> tensor_like(const ag::BasicTensor<T>&, const ag::Value& v) {
    return ag::to_tensor<T>(v);
}

const std::vector<std::int64_t> kLabels = {2, 0, 1};
const std::vector<std::int64_t> kRows = {1, 0, 1, 2};
const std::vector<std::int64_t> kIndex = {2, 0, 1, 1};  // [2, 2], entries in [0, 3)

std::vector<Row> rows() {
    using S = std::vector<ag::Shape>;
    return {
        ROW("neg", (S{{2, 3}}), -x[0]),
        ROW("exp", (S{{2, 3}}), ag::exp(x[0])),
        ROW("log", (S{{2, 3}}), ag::log(x[0]), 0.2, 2.0),
        ROW("sqrt", (S{{2, 3}}), ag::sqrt(x[0]), 0.2, 2.0),
        ROW("tanh", (S{{2, 3}}), ag::tanh(x[0])),
        ROW("sigmoid", (S{{2, 3}}), ag::sigmoid(x[0])),
        ROW("relu", (S{{2, 3}}), ag::relu(x[0])),
        ROW("sin", (S{{2, 3}}), ag::sin(x[0])),
        ROW("cos", (S{{2, 3}}), ag::cos(x[0])),
        ROW("abs", (S{{2, 3}}), ag::abs(x[0])),
        ROW("tan", (S{{2, 3}}), ag::tan(x[0]), -1.2, 1.2),
        ROW("atan", (S{{2, 3}}), ag::atan(x[0])),
        ROW("sinh", (S{{2, 3}}), ag::sinh(x[0])),
        ROW("cosh", (S{{2, 3}}), ag::cosh(x[0])),
        ROW("log1p", (S{{2, 3}}), ag::log1p(x[0]), -0.5, 2.0),
        ROW("expm1", (S{{2, 3}}), ag::expm1(x[0])),
        ROW("erf", (S{{2, 3}}), ag::erf(x[0])),
        ROW("softplus", (S{{2, 3}}), ag::softplus(x[0])),
        ROW("gelu", (S{{2, 3}}), ag::gelu(x[0])),
        ROW("leaky_relu", (S{{2, 3}}), ag::leaky_relu(x[0], 0.2)),
        ROW("clamp_min", (S{{2, 3}}), ag::clamp_min(x[0], 0.25)),
        ROW("clamp_max", (S{{2, 3}}), ag::clamp_max(x[0], -0.25)),
        ROW("clamp", (S{{2, 3}}), ag::clamp(x[0], -0.5, 0.5)),
        ROW("+ (broadcast)", (S{{2, 3}, {3}}), x[0] + x[1]),
        ROW("- (broadcast)", (S{{2, 1}, {1, 3}}), x[0] - x[1]),
        ROW("* (broadcast)", (S{{2, 3}, {2, 1}}), x[0] * x[1]),
        ROW("/ (broadcast)", (S{{2, 3}, {3}}), x[0] / x[1], 0.5, 2.0),
        ROW("- (one element on the left)", (S{{1}, {2, 3}}), x[0] - x[1]),
        ROW("/ (one element on the right)", (S{{2, 3}, {1, 1}}), x[0] / x[1], 0.5, 2.0),
        ROW("pow (tensor exponent)", (S{{2, 3}, {2, 3}}), ag::pow(x[0], x[1]), 0.5, 2.0),
        ROW("+ constant", (S{{2, 3}}), x[0] + 0.7),
        ROW("constant -", (S{{2, 3}}), 0.7 - x[0]),
        ROW("* constant", (S{{2, 3}}), 2.5 * x[0]),
        ROW("/ constant", (S{{2, 3}}), x[0] / 2.5),
        ROW("constant /", (S{{2, 3}}), 2.5 / x[0], 0.5, 2.0),
        ROW("pow constant", (S{{2, 3}}), ag::pow(x[0], 3.0)),
        ROW("matmul", (S{{2, 3}, {3, 4}}), ag::matmul(x[0], x[1])),
        ROW("matmul batched", (S{{2, 2, 3}, {3, 4}}), ag::matmul(x[0], x[1])),
        ROW("linear", (S{{2, 3}, {3, 4}, {4}}), ag::linear(x[0], x[1], x[2])),
        ROW("transpose", (S{{2, 3}}), ag::transpose(x[0])),
        ROW("transpose axes", (S{{2, 3, 2}}), ag::transpose(x[0], 0, 2)),
        ROW("reshape", (S{{2, 3}}), ag::reshape(x[0], {3, -1})),
        ROW("sum", (S{{2, 3}}), ag::sum(x[0])),
        ROW("sum axis", (S{{2, 3}}), ag::sum(x[0], 1, true)),
        ROW("mean", (S{{2, 3}}), ag::mean(x[0])),
        ROW("mean axis", (S{{2, 3, 2}}), ag::mean(x[0], -2)),
        ROW("max", (S{{2, 3}}), ag::max(x[0])),
        ROW("max axis", (S{{2, 3}}), ag::max(x[0], 0)),
        ROW("max axis (rows of 9)", (S{{3, 9}}), ag::max(x[0], 1)),
        ROW("max axis (columns of 9)", (S{{9, 2}}), ag::max(x[0], 0)),
        ROW("softmax (rows of 9)", (S{{2, 9}}), ag::softmax(x[0], 1)),
        ROW("softmax", (S{{2, 3}}), ag::softmax(x[0])),
        ROW("log_softmax", (S{{2, 3}}), ag::log_softmax(x[0], 0)),
        ROW("mse_loss", (S{{2, 3}, {2, 3}}), ag::mse_loss(x[0], x[1])),
        ROW("cross_entropy", (S{{3, 4}}), ag::cross_entropy(x[0], std::span<const std::int64_t>(kLabels))),
        ROW("binary_cross_entropy_with_logits", (S{{2, 3}, {2, 3}}), ag::binary_cross_entropy_with_logits(x[0], x[1]),
            0.0, 1.0),
        ROW("hinge", (S{{2, 3}, {2, 3}}), ag::hinge(x[0], x[1])),
        ROW("select_rows", (S{{3, 2}}), ag::select_rows(x[0], std::span<const std::int64_t>(kRows))),
        ROW("concat", (S{{2, 3}, {1, 3}, {2, 3}}), ag::concat({x[0], x[1], x[2]}, 0)),
        // Values read out of tensors (to_value), multiplied as Values, made a tensor again.
        ROW("to_tensor", (S{{2, 3}}), tensor_like(x[0], ag::to_value(x[0], {1, 2}) * ag::to_value(ag::sum(x[0])))),
        ROW("* Value (broadcast)", (S{{2, 3}}), x[0] * ag::to_value(x[0], {0, 1})),
        ROW("where", (S{{2, 3}, {2, 3}, {3}}), ag::where(ag::step(x[0]), x[1], x[2])),
        ROW("broadcast_to", (S{{3}}), ag::broadcast_to(x[0], {2, 3})),
        ROW("sum_to", (S{{2, 3}}), ag::sum_to(x[0], {1, 3})),
        ROW("slice", (S{{2, 4}}), ag::slice(x[0], 1, 1, 3)),
        ROW("pad", (S{{2, 3}}), ag::pad(x[0], 0, 1, 2)),
        ROW("scatter_rows", (S{{4, 2}}), ag::scatter_rows(x[0], std::span<const std::int64_t>(kRows), 3)),
        ROW("gather", (S{{2, 3}}), ag::gather(x[0], 1, std::span<const std::int64_t>(kIndex), {2, 2})),
        ROW("scatter_add", (S{{2, 2}}), ag::scatter_add({2, 3}, 1, std::span<const std::int64_t>(kIndex), x[0])),
        // Made of other ops; here for their shapes and errors as much as their gradients.
        ROW("stack", (S{{2, 3}, {2, 3}}), ag::stack({x[0], x[1]}, 1)),
        ROW("unsqueeze / squeeze", (S{{2, 3}}),
            ag::squeeze(ag::unsqueeze(x[0], 1) * ag::unsqueeze(ag::sin(x[0]), -2), 1)),
        ROW("index_select", (S{{2, 3}}), ag::index_select(x[0], 1, std::span<const std::int64_t>(kRows))),
        ROW("min", (S{{2, 3}}), ag::min(x[0])),
        ROW("min axis", (S{{2, 3}}), ag::min(x[0], 1, true)),
        ROW("var", (S{{2, 3}}), ag::var(x[0])),
        ROW("std axis", (S{{2, 3}}), ag::std(x[0], 1, false, 0), 0.5, 2.0),
    };
}

template <class T>
std::vector<ag::BasicTensor<T>> draw(const Row& row, std::uint64_t seed) {
    std::vector<ag::BasicTensor<T>> xs;
    ag::Rng rng(seed);
    for (const ag::Shape& s : row.shapes) xs.push_back(ag::BasicTensor<T>::rand(s, rng, row.lo, row.hi));
    return xs;
}

}  // namespace

TEST_CASE("every tensor op: gradients against central differences (float64)") {
    for (const Row& row : rows()) {
        CAPTURE(row.name);
        ag::Scope scope;
        const std::vector<Tensor> xs = draw<double>(row, 7);
        const auto report = ag::check_gradients(row.f64, xs);
        INFO(report.table());
        CHECK(report.ok());
    }
}

TEST_CASE("every tensor op: float32 computes what float64 computes, to float precision") {
    for (const Row& row : rows()) {
        CAPTURE(row.name);
        ag::Scope scope;
        const std::vector<Tensor> x64 = draw<double>(row, 11);
        std::vector<Tensor32> x32;
        for (const Tensor& x : x64) x32.push_back(x.to<float>());
        const Tensor y64 = row.f64(x64);
        const Tensor32 y32 = row.f32(x32);
        REQUIRE(y32.shape() == y64.shape());
        for (std::size_t k = 0; k < y64.data().size(); ++k)
            CHECK(y32.data()[k] == doctest::Approx(y64.data()[k]).epsilon(1e-5));
        // Gradients too, through a weighted sum so each output element counts.
        ag::sum(y64 * y64).backward();
        ag::sum(y32 * y32).backward();
        for (std::size_t i = 0; i < x64.size(); ++i)
            for (std::size_t k = 0; k < x64[i].grad().size(); ++k)
                CHECK(x32[i].grad()[k] == doctest::Approx(x64[i].grad()[k]).epsilon(1e-4).scale(1e-3));
    }
}

TEST_CASE("every tensor op: the recorded gradient has the first-order values") {
    for (const Row& row : rows()) {
        CAPTURE(row.name);
        ag::Scope scope;
        const std::vector<Tensor> xs = draw<double>(row, 5);
        const Tensor y = row.f64(xs);
        const Tensor loss = ag::sum(y * ag::Tensor::rand(y.shape(), 13, 0.5, 1.5).set_requires_grad(false));
        const std::vector<Tensor> g1 = ag::grad(loss, xs);
        const std::vector<Tensor> g2 = ag::grad(loss, xs, ag::create_graph);
        for (std::size_t i = 0; i < xs.size(); ++i)
            for (std::size_t k = 0; k < g1[i].data().size(); ++k)
                CHECK(g2[i].data()[k] == doctest::Approx(g1[i].data()[k]).epsilon(1e-13).scale(1e-13));
    }
}

TEST_CASE("every tensor op: second derivatives against central differences of the gradient (gradgradcheck)") {
    // F(x) = sum_i sum(grad_i(x) * v_i), the gradient recorded: checking F's
    // gradient against differences of F checks the recorded backward.
    for (const Row& row : rows()) {
        CAPTURE(row.name);
        ag::Scope scope;
        const std::vector<Tensor> xs = draw<double>(row, 17);
        std::vector<std::vector<double>> v;
        for (const Tensor& x : xs) v.push_back(Tensor::rand(x.shape(), 19, -1, 1).to_vector());
        auto F = [&](const std::vector<Tensor>& x) {
            const Tensor y = row.f64(x);
            const Tensor loss = ag::sum(ag::tanh(y));  // a nonlinear reduction, so H is not just the op's
            const std::vector<Tensor> g = ag::grad(loss, x, ag::create_graph);
            Tensor total = Tensor::zeros({}).set_requires_grad(false);
            for (std::size_t i = 0; i < x.size(); ++i)
                total = total +
                        ag::sum(g[i] * Tensor(x[i].shape(), std::span<const double>(v[i])).set_requires_grad(false));
            return total;
        };
        const auto report = ag::check_gradients(F, xs, {.step = 1e-5, .atol = 1e-5, .rtol = 1e-4});
        INFO(report.table());
        CHECK(report.ok());
    }
}

TEST_CASE("the op table has a row for every op name a tensor node can carry") {
    std::set<std::string> covered;
    for (const Row& row : rows()) {
        ag::Scope scope;
        const std::vector<Tensor> xs = draw<double>(row, 3);
        covered.insert(row.f64(xs).op_name());
    }
    {
        // to_value makes a Value, so no row returns it; its gradients are
        // checked in the rows above that use it (and in test_one_graph).
        ag::Scope scope;
        covered.insert(ag::to_value(Tensor({2}, {1.0, 2.0}), {1}).op_name());
    }
    for (const char* name : ag::tensor_op_names()) CHECK_MESSAGE(covered.count(name), "no test row for op ", name);
}
