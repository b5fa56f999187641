#pragma once
// Small helpers shared by the example programs: a seeded uniform generator
// that gives the same numbers with every standard library, and word wrapping
// for printed notes.
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

namespace examples {

// Uniform double in [lo, hi) from the top 53 bits of a 64-bit Mersenne
// twister (std::uniform_real_distribution's output is left to each standard
// library; this is not, so the examples' figures are the same everywhere).
class Uniform {
public:
    explicit Uniform(std::uint64_t seed) : engine_(seed) {}
    double operator()(double lo, double hi) {
        const double unit = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
        return lo + (hi - lo) * unit;
    }

private:
    std::mt19937_64 engine_;
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
