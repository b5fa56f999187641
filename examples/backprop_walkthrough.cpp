// Example 2: the 2-2-2 sigmoid network walkthrough, engine beside the
// published figures.
#include "examples/backprop_walkthrough.hpp"
#include "examples/common.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
    CLI::App app("The 2-2-2 sigmoid network walkthrough beside the published figures");
    CLI11_PARSE(app, argc, argv);

    const examples::WalkthroughFigures r = examples::backprop_walkthrough();
    fmt::print(
        "2-2-2 sigmoid network, inputs (0.05, 0.10), targets (0.01, 0.99), learning rate 0.5,\n"
        "biases 0.35 / 0.60 fixed, E = sum 1/2 (t - o)^2  (Mazur, \"A Step by Step Backpropagation Example\")\n\n");

    fmt::print("Gradients at the initial weights\n");
    fmt::print("{:<6} {:>8} {:>24} {:>24} {:>10}\n", "weight", "value", "dE/dw from backward()", "delta rule by hand",
               "diff");
    for (int k = 0; k < 8; ++k)
        fmt::print("w{:<5} {:>8} {:>24.17g} {:>24.17g} {:>10.1e}\n", k + 1,
                   examples::Walkthrough222::initial_weights[k], r.engine_gradient[k], r.hand_gradient[k],
                   r.engine_gradient[k] - r.hand_gradient[k]);
    fmt::print("largest gap between the engine's and the hand formulas' weights over 10,000 rounds: {:.1e}\n\n",
               r.max_engine_vs_hand);

    fmt::print("Published figures beside the engine's (exact double precision)\n");
    fmt::print("{:<29} {:>14} {:>20} {:>11}  {}\n", "figure", "published", "engine", "difference",
               "agrees to the printed digits?");
    for (const auto& p : r.published)
        fmt::print("{:<29} {:>14} {:>20.{}f} {:>11.2e}  {}\n", p.what, p.published, p.engine, p.decimals() + 3,
                   p.difference(), p.agrees() ? "yes" : "NO, see below");

    fmt::print("\nWhere the published figures and the exact computation disagree:\n");
    for (const auto& note : examples::walkthrough_notes(r)) fmt::print("- {}\n", examples::wrap(note));
}
