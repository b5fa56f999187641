#pragma once
// Small helpers shared by the example programs: a seeded uniform generator
// that gives the same numbers with every standard library, and word wrapping
// for printed notes.
#include <autograd/tensor.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace examples {

// Uniform double in [lo, hi): ag::Rng's draws (the top 53 bits of a 64-bit
// Mersenne twister, not std::uniform_real_distribution, whose output each
// standard library chooses), so the examples' figures are the same
// everywhere. A call operator, as the examples draw with u(-1, 1).
class Uniform {
public:
    explicit Uniform(std::uint64_t seed) : rng_(seed) {}
    double operator()(double lo, double hi) { return rng_.uniform(lo, hi); }

private:
    ag::Rng rng_;
};

// Breaks `text` into lines of at most `width` characters, each line starting
// with `indent` after the first.
inline std::string wrap(std::string_view text, std::size_t width = 100, std::string_view indent = "  ") {
    std::string out, line;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find(' ', start);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view word = text.substr(start, end - start);
        if (!line.empty() && line.size() + 1 + word.size() > width) {
            out += line + "\n";
            line = std::string(indent);
        } else if (!line.empty() && line != indent) {
            line += ' ';
        }
        line += word;
        start = end + 1;
    }
    return out + line;
}

}  // namespace examples
