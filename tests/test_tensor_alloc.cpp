// A training step of a fixed model makes no heap allocation once the first
// steps have sized the tape: this program replaces the global operator new
// (every form) with a counting one.
#include "tests/count_allocations.hpp"

#include <autograd/autograd.hpp>
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <numeric>
#include <thread>
#include <vector>

namespace {

// A float32 classifier 8-32-16-3 trained by SGD on mini-batches of 10 rows
// drawn from a 100-row data set, with a small L2 penalty: select_rows,
// linear, relu, tanh, cross_entropy, mul, sum, mean, backward, in-place update.
struct Training {
    std::vector<ag::Tensor32> params;
    ag::Tensor32 data;
    std::vector<int> labels_all, batch_rows, batch_labels;
    ag::Rng rng{5};
    std::vector<float> losses;

    Training() {
        const std::vector<std::int64_t> sizes{8, 32, 16, 3};
        for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
            params.push_back(ag::Tensor32::randn({sizes[l], sizes[l + 1]}, rng, 0, 0.3));
            params.push_back(ag::Tensor32::zeros({sizes[l + 1]}));
        }
        data = ag::Tensor32::randn({100, 8}, rng);
        data.set_requires_grad(false);
        for (int r = 0; r < 100; ++r) labels_all.push_back(data.at({r, 0}) > 0 ? (data.at({r, 1}) > 0 ? 2 : 1) : 0);
        batch_rows.resize(10);
        batch_labels.resize(10);
        losses.reserve(100);
    }

    void step() {
        for (std::size_t i = 0; i < 10; ++i) {
            batch_rows[i] = static_cast<int>(rng.below(100));
            batch_labels[i] = labels_all[static_cast<std::size_t>(batch_rows[i])];
        }
        ag::Scope scope;
        ag::Tensor32 h = ag::select_rows(data, batch_rows);
        h = ag::relu(ag::linear(h, params[0], params[1]));
        h = ag::tanh(ag::linear(h, params[2], params[3]));
        h = ag::linear(h, params[4], params[5]);
        const ag::Tensor32 penalty = ag::mean(params[0] * params[0]) + ag::mean(params[2] * params[2]);
        const ag::Tensor32 loss = ag::cross_entropy(h, batch_labels) + 1e-3 * penalty;
        loss.backward();
        losses.push_back(static_cast<float>(loss.item()));
        for (const auto& p : params) {
            const std::span<float> w = p.data(), g = p.grad();
            for (std::size_t i = 0; i < w.size(); ++i) w[i] -= 0.1f * g[i];
            p.zero_grad();
        }
    }
};

}  // namespace

TEST_CASE("the counting operator new sees allocations") {
    const long n = count_allocations([] {
        std::vector<int> v(100);
        v[3] = 1;
        CHECK(std::accumulate(v.begin(), v.end(), 0) == 1);
    });
    CHECK(n >= 1);
}

TEST_CASE("a training step makes no heap allocation after the first steps") {
    ag::Scope scope;
    Training t;
    for (int i = 0; i < 3; ++i) t.step();  // sizes the tape, arena and scratch
    const long n = count_allocations([&] {
        for (int i = 0; i < 50; ++i) t.step();
    });
    CHECK(n == 0);
    // It did train: mean loss of the last 10 steps below that of the first 10.
    const float first = std::accumulate(t.losses.begin(), t.losses.begin() + 10, 0.0f);
    const float last = std::accumulate(t.losses.end() - 10, t.losses.end(), 0.0f);
    CHECK(last < 0.8f * first);
}

TEST_CASE("the first step on a fresh tape does allocate (the instrument is not blind to the engine)") {
    long n = 0;
    std::thread([&] {
        // A new thread has a new, empty tape: its first step must allocate.
        n = count_allocations([] {
            Training t;
            t.step();
        });
    }).join();
    CHECK(n > 0);
}
