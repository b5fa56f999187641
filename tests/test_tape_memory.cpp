// The tape's own memory: bytes a node takes, the constant pool, and the
// thread-exit release of a tape that is a trivially destructible
// thread_local (tape.hpp explains why it is one).
#include "tests/count_allocations.hpp"

#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <optional>
#include <thread>
#include <vector>

using ag::Value;

TEST_CASE("a node takes 32 bytes, and the committed memory is little more than capacity x 32") {
    CHECK(ag::Tape::bytes_per_node == 32);
    std::size_t reserved = 0;
    std::thread([&] {  // a fresh tape: nothing reserved before
        CHECK(ag::tape().bytes_reserved() == 0);
        ag::tape().reserve(100'000);
        reserved = ag::tape().bytes_reserved();
    })
        .join();
    // Each of the four arrays starts on its own page, at a staggered offset,
    // and is committed in whole pages.
    CHECK(reserved >= 100'000 * ag::Tape::bytes_per_node);
    CHECK(reserved <= 100'000 * ag::Tape::bytes_per_node + 4 * 4096 + 3 * 11 * 64);
}

TEST_CASE("a tape that grows by itself commits at most about an eighth more than it holds") {
    // Growth commits (and touches) memory ahead of the nodes: by an eighth
    // of the capacity at a time, not by doubling it, which left up to half
    // of a big graph's memory unused.
    constexpr std::uint32_t n = 3'000'000;
    std::size_t reserved = 0;
    std::thread([&] {
        Value x(1.0);
        Value y = x;
        for (std::uint32_t i = 1; i < n; ++i) y = y * 1.0;
        CHECK(ag::tape().size() == n);  // x and n - 1 products by a constant
        y.backward();
        CHECK(x.grad() == 1.0);
        reserved = ag::tape().bytes_reserved();
    }).join();
    const double needed = double{n} * ag::Tape::bytes_per_node;
    CHECK(static_cast<double>(reserved) >= needed);
    // Plus whole 2 MiB huge pages, one per array at most.
    CHECK(static_cast<double>(reserved) <= 1.125 * needed + 4 * 2.0 * 1024 * 1024);
}

TEST_CASE("a repeated constant reuses its slot, distinct ones grow the pool, rewind gives them back") {
    ag::Tape& t = ag::tape();
    const ag::Tape::Mark mark = t.mark();
    {
        ag::Scope scope;
        Value x = 2.0;
        Value y = 0.0;
        double sum_c = 0;
        for (int k = 1; k <= 1000; ++k) {  // 1000 distinct constants: the pool grows past its first 64
            const double c = 0.001 * k;
            sum_c += c;
            y = y + x * c;
        }
        CHECK(t.constant_count() == mark.constants + 1000);
        for (int k = 0; k < 100; ++k) y = y + 0.5;  // one new slot, reused 99 times
        CHECK(t.constant_count() == mark.constants + 1001);
        y.backward();
        CHECK(y.data() == doctest::Approx(2.0 * sum_c + 50.0).epsilon(1e-14));
        CHECK(x.grad() == doctest::Approx(sum_c).epsilon(1e-14));
        // Every constant kept its value through the pool's growth.
        for (std::uint32_t k = 0; k < 1000; ++k) CHECK(t.constant(mark.constants + k) == 0.001 * (k + 1));
    }
    CHECK(t.constant_count() == mark.constants);
    CHECK(t.size() == mark.nodes);
}

TEST_CASE("a thread's tape gives back all its memory when the thread exits") {
    // Nodes (grown several times), constants, names and tensors: everything
    // the tape allocates. The thread object's own allocations are freed too.
    const long live = live_allocations_after([] {
        std::thread([] {
            Value x(0.5, "x");
            Value f = 0.0;
            for (int i = 0; i < 5000; ++i) f = f + ag::sin(x * (0.001 * i));
            f.backward();
            CHECK(x.grad() == doctest::Approx([] {
                                  double d = 0;
                                  for (int i = 0; i < 5000; ++i) d += 0.001 * i * std::cos(0.5 * 0.001 * i);
                                  return d;
                              }())
                                  .epsilon(1e-12));
            ag::Tensor a({3}, {1.0, 2.0, 3.0});
            ag::Tensor s = ag::sum(a * a);
            s.backward();
            CHECK(a.grad()[1] == 4.0);
        }).join();
    });
    CHECK(live == 0);
}

TEST_CASE("under NoGrad, results get no gradient buffer: inference takes about half the memory") {
    auto forward_bytes = [](bool no_grad) {
        std::size_t grown = 0;
        std::thread([&] {  // a fresh tape, so the arena's growth is this forward pass alone
            const ag::Tensor x = ag::Tensor::full({100'000}, 0.5);
            const std::size_t before = ag::tape().bytes_reserved();
            std::optional<ag::NoGrad> guard;
            if (no_grad) guard.emplace();
            ag::Tensor y = x;
            for (int k = 0; k < 20; ++k) y = ag::tanh(y * 1.01);  // 40 results of 800 kB values
            CHECK(y.requires_grad() == !no_grad);
            grown = ag::tape().bytes_reserved() - before;
        })
            .join();
        return static_cast<double>(grown);
    };
    const double with_grad = forward_bytes(false), without = forward_bytes(true);
    CHECK(with_grad >= 40 * 2 * 800'000.0);
    CHECK(without >= 40 * 800'000.0);
    CHECK(without <= 0.55 * with_grad);
}

TEST_CASE("a result recorded without a gradient buffer gets one on demand, outside the arena") {
    ag::Tensor x = ag::Tensor::full({3}, 2.0);
    ag::Tensor y;
    {
        ag::NoGrad guard;
        y = x * x;  // [4, 4, 4], no gradient buffer
    }
    CHECK_FALSE(y.requires_grad());
    CHECK(std::vector<double>(y.grad().begin(), y.grad().end()) == std::vector<double>{0, 0, 0});

    // The buffer made inside a step's scope outlives it: were it in the
    // arena, the next step's tensors would be written over it.
    {
        ag::Scope step;
        y.grad()[1] = 5.0;
    }
    {
        ag::Scope step;
        const ag::Tensor filler = ag::Tensor::full({64}, -1.0);
        CHECK(filler.to_vector()[0] == -1.0);
    }
    CHECK(y.grad()[1] == 5.0);
    y.zero_grad();

    // Switched on afterwards, it takes part in backward like a leaf:
    // d/dy sum(y^3) = 3 y^2 = 48.
    y.set_requires_grad(true);
    ag::Scope step;
    ag::Tensor loss = ag::sum(y * y * y);
    loss.backward();
    CHECK(y.to_vector() == std::vector<double>{4, 4, 4});
    CHECK(std::vector<double>(y.grad().begin(), y.grad().end()) == std::vector<double>{48, 48, 48});
    CHECK(x.grad()[0] == 0.0);  // y was computed under NoGrad: nothing reaches x

    // backward() from a root that needs no gradient seeds a buffer made for it.
    const ag::Tensor data = ag::Tensor::full({2}, 3.0);
    data.set_requires_grad(false);
    ag::Tensor total = ag::sum(data * data);
    CHECK_FALSE(total.requires_grad());
    total.backward();
    CHECK(total.grad()[0] == 1.0);
    CHECK(data.grad()[0] == 0.0);
}

TEST_CASE("gradient buffers made on demand are freed with their nodes") {
    const ag::Tensor x = ag::Tensor::full({1000}, 1.0);
    const long live = live_allocations_after([&] {
        for (int step = 0; step < 10; ++step) {
            ag::Scope scope;
            ag::NoGrad guard;
            const ag::Tensor y = x * 2.0;
            CHECK(y.grad()[999] == 0.0);  // one heap buffer, freed by the scope's rewind
        }
    });
    CHECK(live == 0);
}
