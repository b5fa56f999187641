// The tape's own memory: bytes a node takes, the constant pool, and the
// thread-exit release of a tape that is a trivially destructible
// thread_local (tape.hpp explains why it is one).
#include "tests/count_allocations.hpp"

#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <thread>
#include <vector>

using ag::Value;

TEST_CASE("a node takes 30 bytes, and the reserved block holds little more than capacity x 30") {
    CHECK(ag::Tape::bytes_per_node == 30);
    std::size_t reserved = 0;
    std::thread([&] {  // a fresh tape: nothing reserved before
        CHECK(ag::tape().bytes_reserved() == 0);
        ag::tape().reserve(100'000);
        reserved = ag::tape().bytes_reserved();
    }).join();
    // Each of the five arrays starts on its own page, at a staggered offset.
    CHECK(reserved >= 100'000 * ag::Tape::bytes_per_node);
    CHECK(reserved <= 100'000 * ag::Tape::bytes_per_node + 5 * 4096 + 4 * 11 * 64);
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
        for (std::uint32_t k = 0; k < 1000; ++k)
            CHECK(t.constants[mark.constants + k] == 0.001 * (k + 1));
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
