// One rule per op: every constant-operand op agrees with its binary twin
// (value and derivative, at ordinary points and at the kinks); NaN
// propagates through every op, scalar and tensor; the tape's invariants
// (one tape per thread, guard counters only through the guards, handle
// generations that cannot wrap).
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

using ag::Value;

namespace {

constexpr double NaN = std::numeric_limits<double>::quiet_NaN();
constexpr double Inf = std::numeric_limits<double>::infinity();

// Equal to the bit, or both NaN.
bool same(double a, double b) {
    return std::bit_cast<std::uint64_t>(a) == std::bit_cast<std::uint64_t>(b) || (a != a && b != b);
}

struct ConstantCase {
    std::string name;
    ag::Op op;                                                 // the op the constant form records
    std::function<Value(const Value&, double)> with_constant;  // e.g. a * c
    std::function<Value(const Value&, const Value&)> binary;   // the same with c a node
    std::vector<std::pair<double, double>> points;             // (a, c)
};

std::vector<ConstantCase> constant_cases() {
    const std::vector<std::pair<double, double>> ordinary = {{-1.3, 0.6}, {0.8, 2.1}, {2.2, -0.9}, {-0.4, -1.7}};
    auto with = [](std::vector<std::pair<double, double>> a, std::vector<std::pair<double, double>> b) {
        a.insert(a.end(), b.begin(), b.end());
        return a;
    };
    // Kinks: zero operands, zero exponents, zero bases with exponents of each sign, NaN and infinities.
    const std::vector<std::pair<double, double>> zeros = {{0.0, 1.5}, {1.5, 0.0}, {0.0, 0.0}, {-0.0, 2.0},
                                                          {NaN, 1.0}, {1.0, NaN}, {Inf, 2.0}, {2.0, Inf}};
    const std::vector<std::pair<double, double>> pow_kinks = {{0.0, 2.0}, {0.0, 0.0},  {0.0, -1.0}, {0.0, 0.5},
                                                              {2.0, 0.0}, {-1.0, 2.0}, {-1.0, 0.5}, {1.0, NaN},
                                                              {NaN, 0.0}, {0.0, -2.5}, {3.0, 1.0},  {-0.0, 3.0}};
    using V = const Value&;
    return {
        {"a + c", ag::Op::AddC, [](V a, double c) { return a + c; }, [](V a, V c) { return a + c; },
         with(ordinary, zeros)},
        {"c + a", ag::Op::AddC, [](V a, double c) { return c + a; }, [](V a, V c) { return c + a; },
         with(ordinary, zeros)},
        {"a - c", ag::Op::AddC, [](V a, double c) { return a - c; }, [](V a, V c) { return a - c; },
         with(ordinary, zeros)},
        {"c - a", ag::Op::RSubC, [](V a, double c) { return c - a; }, [](V a, V c) { return c - a; },
         with(ordinary, zeros)},
        {"a * c", ag::Op::MulC, [](V a, double c) { return a * c; }, [](V a, V c) { return a * c; },
         with(ordinary, zeros)},
        {"c * a", ag::Op::MulC, [](V a, double c) { return c * a; }, [](V a, V c) { return c * a; },
         with(ordinary, zeros)},
        {"a / c", ag::Op::DivC, [](V a, double c) { return a / c; }, [](V a, V c) { return a / c; },
         with(ordinary, zeros)},
        {"c / a", ag::Op::RDivC, [](V a, double c) { return c / a; }, [](V a, V c) { return c / a; },
         with(ordinary, zeros)},
        {"pow(a, c)", ag::Op::PowC, [](V a, double c) { return ag::pow(a, c); }, [](V a, V c) { return ag::pow(a, c); },
         with(ordinary, pow_kinks)},
        // For c^a the point is (exponent a, base c): swap the kinks.
        {"pow(c, a)", ag::Op::RPowC, [](V a, double c) { return ag::pow(c, a); },
         [](V a, V c) { return ag::pow(c, a); },
         with(ordinary,
              [&] {
                  std::vector<std::pair<double, double>> swapped;
                  for (auto [b, e] : pow_kinks) swapped.emplace_back(e, b);
                  return swapped;
              }())},
    };
}

template <class T>
concept reaches_guard_counter = requires(T& t) {
    t.no_grad_depth_;
};
template <class T>
concept reaches_node_array = requires(T& t) {
    t.value_;
};

}  // namespace

TEST_CASE("every constant-operand op equals its binary twin: value and derivative, at kinks too") {
    std::vector<ag::Op> covered;
    for (const auto& c : constant_cases()) {
        for (auto [a0, c0] : c.points) {
            CAPTURE(c.name);
            CAPTURE(a0);
            CAPTURE(c0);
            ag::Scope scope;
            Value a = a0;
            Value y = c.with_constant(a, c0);
            REQUIRE(ag::tape().op(y.index()) == c.op);  // the one-node form is what is tested
            covered.push_back(c.op);
            y.backward();
            Value a2 = a0, c2 = c0;
            Value y2 = c.binary(a2, c2);
            y2.backward();
            CHECK(same(y.data(), y2.data()));
            INFO("d/da with a constant: " << a.grad() << ", binary: " << a2.grad());
            CHECK(same(a.grad(), a2.grad()));
        }
    }
// clang-format off
#define AG_COVERED(Name) CHECK_MESSAGE(std::find(covered.begin(), covered.end(), ag::Op::Name) != covered.end(), #Name);
    AG_BINARY_CONST_OPS(AG_COVERED)
#undef AG_COVERED
    // clang-format on
}

TEST_CASE("pow(0, e) has the same d/de with a constant base as with a node base, e < 0 included") {
    // The defect: pow(Value(0), e) gave -Inf and pow(0.0, e) gave 0 for e < 0.
    for (double e0 : {-2.0, -1.0, -0.5, 0.0, 0.5, 2.0}) {
        CAPTURE(e0);
        ag::Scope scope;
        Value e1 = e0, e2 = e0, base = 0.0;
        ag::pow(base, e1).backward();
        ag::pow(0.0, e2).backward();
        CHECK(same(e1.grad(), e2.grad()));
        // PyTorch's rule: 0 where the base is 0 and e >= 0, else y * log(0).
        CHECK(same(e2.grad(), e0 >= 0 ? 0.0 : -Inf));
    }
}

TEST_CASE("NaN propagates through relu, min and max, values and derivatives") {
    ag::Scope scope;
    Value x = NaN;
    Value r = ag::relu(x);
    CHECK(std::isnan(r.data()));
    r.backward();
    CHECK(std::isnan(x.grad()));
    for (int order = 0; order < 2; ++order) {
        CAPTURE(order);
        Value a = NaN, b = 2.0;
        Value hi = order == 0 ? ag::max(a, b) : ag::max(b, a);
        Value lo = order == 0 ? ag::min(a, b) : ag::min(b, a);
        CHECK(std::isnan(hi.data()));
        CHECK(std::isnan(lo.data()));
        (hi + lo).backward();
        CHECK(std::isnan(a.grad()));
        CHECK(std::isnan(b.grad()));
    }
    Value m = -0.0;  // relu(-0) is 0 and relu'(-0) is 0, as at +0
    Value rm = ag::relu(m);
    rm.backward();
    CHECK(rm.data() == 0.0);
    CHECK(m.grad() == 0.0);
    Value s = NaN;
    ag::abs(s).backward();
    CHECK(std::isnan(s.grad()));
}

TEST_CASE("anomaly mode names the op that turns a NaN input into NaN output") {
    ag::Scope scope;
    ag::DetectAnomaly anomaly;
    Value x = NaN;  // a leaf is an input, not an op: no error yet
    CHECK_THROWS_WITH_AS(ag::relu(x), doctest::Contains("relu produced nan"), ag::AnomalyError);
    CHECK_THROWS_WITH_AS(ag::max(Value(2.0), x), doctest::Contains("max produced nan"), ag::AnomalyError);
    ag::Tensor t({3}, {1.0, NaN, -1.0});
    CHECK_THROWS_WITH_AS(ag::relu(t), doctest::Contains("relu"), ag::AnomalyError);
    ag::Tensor targets({3}, {1.0, 1.0, -1.0});
    CHECK_THROWS_WITH_AS(ag::hinge(t, targets), doctest::Contains("hinge"), ag::AnomalyError);
}

TEST_CASE("tensor ops propagate NaN: relu, hinge, max, and the rest") {
    ag::Scope scope;
    ag::Tensor x({2, 3}, {1.0, NaN, -2.0, 0.5, -0.5, 3.0});
    ag::Tensor t({2, 3}, {1.0, -1.0, 1.0, 1.0, -1.0, 1.0});
    auto has_nan = [](const ag::Tensor& r) {
        for (double v : r.data())
            if (std::isnan(v)) return true;
        return false;
    };
    CHECK(std::isnan(ag::relu(x).data()[1]));
    CHECK(std::isnan(ag::hinge(x, t).item()));
    CHECK(std::isnan(ag::max(x).item()));
    CHECK(std::isnan(ag::max(x, 1).data()[0]));
    CHECK(has_nan(ag::abs(x)));
    CHECK(has_nan(ag::tanh(x)));
    CHECK(has_nan(ag::sigmoid(x)));
    CHECK(has_nan(x * 2.0));
    CHECK(has_nan(x + t));
    CHECK(std::isnan(ag::sum(x).item()));
    CHECK(std::isnan(ag::mean(x).item()));
    CHECK(has_nan(ag::softmax(x)));
    CHECK(has_nan(ag::log_softmax(x)));
    CHECK(std::isnan(ag::mse_loss(x, t).item()));
    CHECK(std::isnan(ag::binary_cross_entropy_with_logits(x, t).item()));
    CHECK(has_nan(ag::matmul(x, ag::transpose(t))));
    const std::vector<std::int64_t> labels = {0, 2};
    CHECK(std::isnan(ag::cross_entropy(x, labels).item()));

    // The gradient of relu and hinge at a NaN element is NaN, not a silent 0.
    ag::Tensor loss = ag::sum(ag::relu(x)) + ag::hinge(x, t);
    loss.backward();
    CHECK(std::isnan(x.grad()[1]));
    CHECK(x.grad()[0] == 1.0);  // relu'(1) = 1; hinge at its kink (1 - t s = 0) sends 0
}

TEST_CASE("float32 relu keeps NaN too") {
    ag::Scope scope;
    ag::Tensor32 x({3}, {1.0f, std::numeric_limits<float>::quiet_NaN(), -1.0f});
    ag::Tensor32 r = ag::relu(x);
    CHECK(std::isnan(r.data()[1]));
    ag::sum(r).backward();
    CHECK(std::isnan(x.grad()[1]));
    CHECK(x.grad()[0] == 1.0f);
    CHECK(x.grad()[2] == 0.0f);
}

TEST_CASE("the tape cannot be created, copied or have its guard counters changed from outside") {
    static_assert(!std::is_default_constructible_v<ag::Tape>);
    static_assert(!std::is_copy_constructible_v<ag::Tape>);
    static_assert(!std::is_move_constructible_v<ag::Tape>);
    // Private members do not satisfy a concept that names them.
    CHECK_FALSE(reaches_guard_counter<ag::Tape>);
    CHECK_FALSE(reaches_node_array<ag::Tape>);
    // Guards are the only way to change the mode, and they nest.
    CHECK(ag::tape().grad_enabled());
    {
        ag::NoGrad outer;
        {
            ag::NoGrad inner;
            CHECK_FALSE(ag::tape().grad_enabled());
        }
        CHECK_FALSE(ag::tape().grad_enabled());
        ag::Scope scope;
        Value x = 1.0;
        CHECK((x * 2.0).is_leaf());
    }
    CHECK(ag::tape().grad_enabled());
}

TEST_CASE("a stale handle stays stale across 2^32 generations, and parameters stay live") {
    // The counter is moved near the old 32-bit limit instead of rewinding 2^32 times.
    ag::detail::TapeAccess::set_next_generation((std::uint64_t{1} << 32) - 3);
    Value param = 1.5;
    Value stale;
    {
        ag::Scope scope;
        stale = param * 2.0;
    }
    const auto index = stale.index();
    for (int step = 0; step < 8; ++step) {  // crosses 2^32 (and 2^32 + 2^32 apart would be the old collision)
        ag::Scope scope;
        Value reused = param * 3.0;
        REQUIRE(reused.index() == index);  // the freed slot is reused
        CHECK_THROWS_WITH_AS(stale.data(), doctest::Contains("stale handle"), std::logic_error);
        CHECK(reused.data() == 4.5);
        CHECK(param.data() == 1.5);
    }
    // The old defect: a handle whose generation equals a new one modulo 2^32
    // read the new node. Generations are now 56 bits: no such pair exists
    // before the counter runs out, and then rewinding refuses.
    CHECK(stale.id().generation() < (std::uint64_t{1} << 32));
    Value empty;
    CHECK_THROWS_WITH_AS(empty.data(), doctest::Contains("empty handle"), std::logic_error);
}

TEST_CASE("when the generations run out, rewind throws instead of reusing one") {
    Value param = 2.0;
    const ag::Tape::Mark mark = ag::tape().mark();
    Value made = param * 2.0;
    ag::detail::TapeAccess::set_next_generation((std::uint64_t{1} << 56) - 1);
    ag::tape().rewind(mark);  // takes the last generation
    CHECK_THROWS_AS(made.data(), std::logic_error);
    Value again = param * 2.0;
    CHECK_THROWS_WITH_AS(ag::tape().rewind(mark), doctest::Contains("generations"), std::overflow_error);
    // Nothing was freed by the refused rewind: the node and its handle live on.
    CHECK(again.data() == 4.0);
    CHECK(param.data() == 2.0);
}

TEST_CASE("twenty nested rewinds: each keeps every handle below its mark live and every one above it stale") {
    // Each level frees one node and records its successor in the freed slot,
    // so live and stale handles alternate in index order; a rewind into the
    // middle, a rewind that frees nothing, and a handle from another thread
    // (whose tape has a node at the same index) are checked too.
    ag::Tape& t = ag::tape();
    const ag::Tape::Mark start = t.mark();
    Value p = 1.0;
    std::vector<Value> kept{p};
    std::vector<ag::Tape::Mark> marks;
    for (int level = 0; level < 20; ++level) {
        marks.push_back(t.mark());
        Value gone = kept.back() * 3.0;
        t.rewind(marks.back());  // frees `gone`; what follows is a new segment
        CHECK_THROWS_WITH_AS(gone.data(), doctest::Contains("stale handle"), std::logic_error);
        kept.push_back(kept.back() + 1.0);
        REQUIRE(kept.back().index() == marks.back().nodes);  // in gone's freed slot
    }
    t.rewind(t.mark());  // frees nothing: every handle stays live
    for (std::size_t k = 0; k < kept.size(); ++k) CHECK(kept[k].data() == 1.0 + static_cast<double>(k));
    kept.back().backward();
    CHECK(p.grad() == 1.0);
    CHECK(kept[7].grad() == 1.0);

    // Rewinding into the middle frees the segments above the mark.
    t.rewind(marks[10]);
    for (std::size_t k = 0; k <= 10; ++k) CHECK(kept[k].data() == 1.0 + static_cast<double>(k));
    for (std::size_t k = 11; k < kept.size(); ++k)
        CHECK_THROWS_WITH_AS(kept[k].data(), doctest::Contains("stale handle"), std::logic_error);
    Value again = kept[10] * 2.0;  // a new segment from marks[10] on
    CHECK(again.index() == kept[11].index());
    CHECK(again.data() == 22.0);
    CHECK_THROWS_AS(kept[11].data(), std::logic_error);

    // A handle from another thread's tape, at an index this tape has, is not live here.
    Value foreign;
    std::thread([&] { foreign = Value(5.0); }).join();
    REQUIRE(foreign.index() < t.size());
    CHECK_THROWS_WITH_AS(foreign.data(), doctest::Contains("stale handle"), std::logic_error);
    t.rewind(start);
    CHECK_THROWS_AS(p.data(), std::logic_error);
}
