#pragma once
// ag::Rng: seeded random numbers that are the same on every platform.
#include <cstdint>
#include <random>
#include <span>
#include <utility>

namespace ag {

// A seeded random source whose streams are the same on every platform and
// standard library: std::mt19937_64 (fully specified by the standard) with
// our own conversions to uniform and normal numbers (the std distributions
// differ between vendors).
class Rng {
public:
    explicit Rng(std::uint64_t seed = 0) : engine_(seed) {}
    std::uint64_t next_u64() { return engine_(); }
    // Uniform in [0, 1), from the top 53 bits of one draw.
    double uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    // Standard normal (Marsaglia's polar method; values come in pairs).
    double normal();
    double normal(double mean, double stddev) { return mean + stddev * normal(); }
    // Uniform integer in [0, n), unbiased (rejection sampling); n > 0.
    std::uint64_t below(std::uint64_t n);
    // Fisher-Yates shuffle, e.g. of sample indices for mini-batches.
    template <class U>
    void shuffle(std::span<U> items) {
        for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
    }

private:
    std::mt19937_64 engine_;
    double spare_ = 0;
    bool has_spare_ = false;
};

}  // namespace ag
