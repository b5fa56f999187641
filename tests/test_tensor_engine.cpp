// ag::Tensor as a tape citizen: handles, scopes, NoGrad, detach, gradient
// accumulation, anomaly mode, threads, printing, and the error messages.
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

using ag::Shape;
using ag::Tensor;
using ag::Tensor32;

namespace {
std::string message_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const std::exception& e) {
        return e.what();
    }
    return "(no exception)";
}
}  // namespace

TEST_CASE("errors name the operation and the shapes") {
    ag::Scope scope;
    const Tensor a = Tensor::zeros({3, 4}), b = Tensor::zeros({5, 2});
    CHECK_THROWS_WITH_AS(ag::mean(Tensor::zeros({0, 3})), "mean: [0, 3] is empty (the mean of nothing)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::mean(Tensor::zeros({0, 3}), 0), "mean: [0, 3]: axis 0 is empty (the mean of nothing)",
                         std::invalid_argument);
    CHECK(ag::mean(Tensor::zeros({0, 3}), 1).shape() == ag::Shape{0});
    CHECK_THROWS_WITH_AS(ag::matmul(a, b), "matmul: [3, 4] @ [5, 2]: inner dimensions 4 and 5 differ",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::matmul(Tensor::zeros({4}), a),
                         "matmul: [4] @ [3, 4]: needs a 2-D or 3-D left operand and a 2-D right operand",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Tensor::zeros({2, 3}) + Tensor::zeros({4}),
                         "+: [2, 3] and [4]: shapes cannot be broadcast (axis sizes 3 and 4 differ)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Tensor::zeros({2, 3}) * Tensor::zeros({3, 3}),
                         "*: [2, 3] and [3, 3]: shapes cannot be broadcast (axis sizes 2 and 3 differ)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::linear(a, Tensor::zeros({4, 2}), Tensor::zeros({3})),
                         "linear: bias [3] does not fit x [3, 4] @ w [4, 2]: it must be [2]", std::invalid_argument);
    // linear is matmul plus a bias, under its own name, and it also takes a 1-D x.
    CHECK_THROWS_WITH_AS(ag::linear(a, b), "linear: [3, 4] @ [5, 2]: inner dimensions 4 and 5 differ",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::linear(Tensor::zeros({1, 1, 1, 4}), Tensor::zeros({4, 2})),
                         "linear: [1, 1, 1, 4] @ [4, 2]: needs a 1-D, 2-D or 3-D left operand and a 2-D right operand",
                         std::invalid_argument);
    CHECK(ag::linear(Tensor::zeros({4}), Tensor::zeros({4, 2})).shape() == ag::Shape{2});
    CHECK_THROWS_WITH_AS(ag::reshape(a, {5, -1}), "reshape: cannot reshape [3, 4] (12 elements) to [5, -1]",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::sum(a, 2), "sum: axis 2 is out of range for shape [3, 4] (rank 2)", std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::softmax(a, -3), "softmax: axis -3 is out of range for shape [3, 4] (rank 2)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::mse_loss(a, b), "mse_loss: [3, 4] and [5, 2]: pred and target must have the same shape",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::hinge(a, b), "hinge: [3, 4] and [5, 2]: scores and targets must have the same shape",
                         std::invalid_argument);

    const std::vector<int> labels{0, 7, 1};
    CHECK_THROWS_WITH_AS(ag::cross_entropy(a, labels),
                         "cross_entropy: label 7 in row 1 is out of range [0, 4) for logits [3, 4]",
                         std::invalid_argument);
    const std::vector<int> negative{0, 1, -1};
    CHECK(message_of([&] { ag::cross_entropy(a, negative); }).find("label -1 in row 2") != std::string::npos);
    const std::vector<int> two{0, 1};
    CHECK_THROWS_WITH_AS(ag::cross_entropy(a, two),
                         "cross_entropy: 2 labels for logits [3, 4]: one label per row is needed",
                         std::invalid_argument);
    CHECK_THROWS_AS(ag::cross_entropy(Tensor::zeros({12}), labels), std::invalid_argument);

    const std::vector<int> rows{0, 3};
    CHECK_THROWS_WITH_AS(ag::select_rows(a, rows),
                         "select_rows: row 3 (position 1 in the list) is out of range for shape [3, 4] (3 rows)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(ag::concat({a, Tensor::zeros({3, 5})}, 0),
                         "concat: part 1 has shape [3, 5], part 0 has [3, 4]: all axes but axis 0 must agree",
                         std::invalid_argument);
    CHECK_THROWS_AS(ag::concat(std::span<const Tensor>{}), std::invalid_argument);
    CHECK_THROWS_AS(ag::transpose(Tensor::zeros({3})), std::invalid_argument);
    CHECK_THROWS_AS(ag::max(Tensor::zeros({0})), std::invalid_argument);

    CHECK_THROWS_WITH_AS(ag::relu(a).backward(),
                         "backward: the tensor has shape [3, 4] (12 elements); backward() needs a one-element tensor "
                         "(a loss), as the gradient can be implicitly created only for scalar outputs; reduce it "
                         "first, e.g. with ag::sum",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(a.item(), "item: the tensor has shape [3, 4] (12 elements); item() needs exactly one",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(a.set_data(std::vector<double>{1, 2}),
                         "set_data: shape [3, 4] has 12 elements, 2 values given", std::invalid_argument);
}

TEST_CASE("handles: stale after a Scope / empty / wrong kind / wrong dtype") {
    Tensor inner;
    {
        ag::Scope scope;
        inner = Tensor::ones({2});
        CHECK(inner.numel() == 2);
    }
    CHECK_THROWS_AS(inner.data(), std::logic_error);
    CHECK(message_of([&] { inner.shape(); }).find("stale handle") != std::string::npos);
    CHECK(message_of([&] { (void)ag::relu(inner); }).find("relu: stale handle") != std::string::npos);
    CHECK_THROWS_AS(inner.backward(), std::logic_error);

    const Tensor empty;
    CHECK(message_of([&] { empty.grad(); }).find("empty handle") != std::string::npos);
    CHECK_THROWS_AS(ag::sum(empty), std::logic_error);

    ag::Scope scope;
    const ag::Value v = 2.0;
    const Tensor not_a_tensor = Tensor::from_node(v.id());
    CHECK(message_of([&] { not_a_tensor.shape(); }).find("is a scalar Value, not a tensor") != std::string::npos);
    const Tensor t = Tensor::ones({2});
    const Tensor32 wrong_dtype = Tensor32::from_node(t.id());
    CHECK(message_of([&] { wrong_dtype.data(); }).find("holds float64, the handle expects float32") !=
          std::string::npos);
    CHECK(fmt::format("{}", inner) == "Tensor(<freed>)");
    CHECK(fmt::format("{}", wrong_dtype) == "Tensor(<freed>)");
}

TEST_CASE("gradients accumulate on leaves / zero_grad / intermediates are not counted twice") {
    ag::Scope scope;
    const Tensor x({2}, {1, 3});
    const Tensor h = x * x;  // an intermediate used by both backward() calls
    const Tensor y = ag::sum(h * 2.0);
    CHECK(h.grad()[0] == 0);  // nothing has reached it yet
    y.backward();
    CHECK(x.grad()[0] == 4);
    CHECK(x.grad()[1] == 12);
    CHECK(h.grad()[1] == 2);
    y.backward();
    CHECK(x.grad()[0] == 8);  // leaves accumulate, as in PyTorch
    CHECK(x.grad()[1] == 24);
    CHECK(h.grad()[1] == 2);  // intermediates are recomputed, not accumulated
    x.zero_grad();
    CHECK(x.grad()[0] == 0);
    y.backward();
    CHECK(x.grad()[1] == 12);
    ag::zero_grad(std::vector<Tensor>{x});
    CHECK(x.grad()[1] == 0);
    // A leaf as its own root.
    const Tensor s = Tensor::scalar(5);
    s.backward();
    CHECK(s.grad()[0] == 1);
    // grad() is writable (gradient clipping, hand-set gradients).
    x.grad()[0] = 7;
    CHECK(x.grad()[0] == 7);
    // Tape::zero_grad clears tensor gradients as well.
    ag::tape().zero_grad();
    CHECK(x.grad()[0] == 0);
}

TEST_CASE("requires_grad / NoGrad / detach") {
    ag::Scope scope;
    const Tensor w({2}, {1, 2});
    const Tensor data({2}, {3, 4});
    data.set_requires_grad(false);
    CHECK(!data.requires_grad());
    const Tensor loss = ag::sum(w * data);
    CHECK(loss.requires_grad());
    CHECK(!loss.is_leaf());
    loss.backward();
    CHECK(w.grad()[0] == 3);
    CHECK(data.grad()[0] == 0);  // not computed
    CHECK_THROWS_AS(loss.set_requires_grad(false), std::logic_error);

    const Tensor only_data = data * 2.0;
    CHECK(!only_data.requires_grad());
    CHECK(only_data.is_leaf());

    Tensor frozen;
    {
        ag::NoGrad no_grad;
        frozen = w * 3.0;
        CHECK(frozen.is_leaf());
        CHECK(!frozen.requires_grad());
        CHECK(frozen.to_vector() == std::vector<double>{3, 6});
    }
    w.zero_grad();
    ag::sum(frozen * w).backward();
    CHECK(w.grad()[0] == 3);  // only through the recorded product, not through frozen

    w.zero_grad();
    const Tensor d = (w * w).detach();
    CHECK(d.is_leaf());
    CHECK(!d.requires_grad());
    ag::sum(d * w).backward();
    CHECK(w.grad()[1] == 4);  // d treated as a constant: d[1] = 4

    // set_data: textbook weights set by hand.
    w.set_data({0.5, -0.5});
    CHECK(ag::sum(w * data).item() == 3 * 0.5 - 4 * 0.5);
    w.fill(2);
    CHECK(w.to_vector() == std::vector<double>{2, 2});
}

TEST_CASE("anomaly mode: forward and backward NaN/Inf name the op and shapes") {
    ag::Scope scope;
    const Tensor x({3}, {1, -1, 2});
    CHECK_NOTHROW((void)ag::log(x));  // outside anomaly mode: NaN is just a value
    ag::DetectAnomaly anomaly;
    CHECK_THROWS_AS((void)ag::log(x), ag::AnomalyError);
    const std::string fwd = message_of([&] { (void)ag::log(x); });
    CHECK(fwd.find("anomaly in forward pass: log of [3] produced ") == 0);  // then "nan" or "-nan"
    CHECK(fwd.find("nan at element 1 (index [1]) of its output [3]") != std::string::npos);
    const Tensor z({2, 2}, {1, 0, 4, 9});
    const Tensor r = ag::sqrt(z);  // finite: sqrt(0) = 0
    const std::string msg = message_of([&] { ag::sum(r).backward(); });
    CHECK(msg.find("anomaly in backward pass: sqrt") != std::string::npos);
    CHECK(msg.find("input #0 (shape [2, 2]) at element 1 (index [0, 1])") != std::string::npos);
    CHECK(msg.find("inf") != std::string::npos);
    CHECK_NOTHROW(ag::sum(ag::sqrt(x * x + 1.0)).backward());

    // matmul and linear share one implementation but keep their own names.
    const Tensor huge = Tensor::full({1, 2}, 1e300), column = Tensor::full({2, 1}, 1e300);
    CHECK(message_of([&] { (void)ag::matmul(huge, column); }) ==
          "anomaly in forward pass: matmul of [1, 2], [2, 1] produced inf at element 0 (index [0, 0]) of its output "
          "[1, 1]");
    CHECK(message_of([&] { (void)ag::linear(huge, column); }) ==
          "anomaly in forward pass: linear of [1, 2], [2, 1] produced inf at element 0 (index [0, 0]) of its output "
          "[1, 1]");
}

TEST_CASE("threads: each thread has its own tape, and handles do not cross") {
    const Tensor mine({2}, {1, 2});
    std::string from_other_thread;
    std::vector<double> results(2);
    auto work = [&](int k) {
        ag::Scope scope;
        const Tensor w({3}, {1, 2, 3});
        for (int step = 0; step < 50; ++step) {
            ag::Scope inner;
            const Tensor loss = ag::sum(ag::tanh(w * static_cast<double>(k + 1)));
            loss.backward();
        }
        results[static_cast<std::size_t>(k)] = w.grad()[0];
    };
    std::thread t0(work, 0), t1(work, 1);
    t0.join();
    t1.join();
    const double d0 = 50 * (1 - std::pow(std::tanh(1.0), 2));
    const double d1 = 50 * 2 * (1 - std::pow(std::tanh(2.0), 2));
    CHECK(results[0] == doctest::Approx(d0).epsilon(1e-14));
    CHECK(results[1] == doctest::Approx(d1).epsilon(1e-14));
    std::thread t2([&] { from_other_thread = message_of([&] { mine.data(); }); });
    t2.join();
    CHECK(from_other_thread.find("stale handle") != std::string::npos);
    CHECK(mine.to_vector() == std::vector<double>{1, 2});
}

TEST_CASE("scalars and tensors on one tape") {
    ag::Scope scope;
    const ag::Value a = 3.0;
    const Tensor t({2}, {1, 2});
    const ag::Value b = a * a;
    const Tensor u = ag::sum(t * t);
    const ag::Value c = b + 1.0;
    c.backward();
    CHECK(a.grad() == 6);
    CHECK(t.grad()[0] == 0);
    u.backward();
    CHECK(t.grad()[1] == 4);
    CHECK(a.grad() == 6);
    CHECK(c.data() == 10);
    CHECK(u.item() == 5);
}

TEST_CASE("rewind frees tensor memory for reuse / nodes before the mark stay valid") {
    ag::Scope scope;
    const Tensor w = Tensor::randn({64, 64}, 1);
    const std::vector<double> before = w.to_vector();
    auto step = [&] {
        ag::Scope s;
        const Tensor loss = ag::mean(ag::tanh(ag::matmul(w, w)));
        loss.backward();
        return loss.item();
    };
    const double first = step();
    const std::size_t bytes = ag::tape().bytes_reserved();
    for (int i = 0; i < 20; ++i) CHECK(step() == first);
    CHECK(ag::tape().bytes_reserved() == bytes);
    CHECK(w.to_vector() == before);

    // A rewind to a mark between tensor nodes keeps the earlier ones.
    const Tensor kept = w * 2.0;
    const ag::Tape::Mark m = ag::tape().mark();
    const Tensor dropped = kept + 1.0;
    ag::tape().rewind(m);
    CHECK_THROWS_AS(dropped.data(), std::logic_error);
    CHECK(kept.data()[5] == 2 * before[5]);
    const Tensor again = kept + 1.0;
    CHECK(again.data()[5] == 2 * before[5] + 1);
}

TEST_CASE("printing: NumPy-like layout / dtype / elision") {
    ag::Scope scope;
    CHECK(fmt::format("{}", Tensor({2, 3}, {1, 2, 3, 4, 5, 6})) ==
          "Tensor(shape=[2, 3], dtype=float64, data=[[1, 2, 3],\n"
          "                                          [4, 5, 6]])");
    CHECK(fmt::format("{}", Tensor({3}, {0.5, -1, 10})) == "Tensor(shape=[3], dtype=float64, data=[0.5,  -1,  10])");
    CHECK(fmt::format("{}", Tensor32::scalar(0.25)) == "Tensor(shape=[], dtype=float32, data=0.25)");
    CHECK(fmt::format("{}", Tensor::zeros({0})) == "Tensor(shape=[0], dtype=float64, data=[])");
    CHECK(fmt::format("{}", ag::reshape(Tensor::arange(8), {2, 2, 2})) ==
          "Tensor(shape=[2, 2, 2], dtype=float64, data=[[[0, 1],\n"
          "                                              [2, 3]],\n"
          "\n"
          "                                             [[4, 5],\n"
          "                                              [6, 7]]])");
    CHECK(fmt::format("{}", Tensor::arange(2000)) ==
          "Tensor(shape=[2000], dtype=float64, data=[   0,    1,    2, ..., 1997, 1998, 1999])");
    const std::string big = fmt::format("{}", ag::reshape(Tensor::arange(1200), {40, 30}));
    CHECK(big.find("[[   0,    1,    2, ...,   27,   28,   29],") != std::string::npos);
    CHECK(big.find("...,\n") != std::string::npos);
    CHECK(big.find("[1170, 1171, 1172, ..., 1197, 1198, 1199]])") != std::string::npos);
    CHECK(ag::to_string(Tensor({1}, {1.0 / 3})) == "Tensor(shape=[1], dtype=float64, data=[0.33333333])");
}
