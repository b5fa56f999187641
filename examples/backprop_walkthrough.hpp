#pragma once
// Example 2: the 2-2-2 sigmoid network of Matt Mazur's "A Step by Step
// Backpropagation Example", computed by the engine in double precision and
// set beside the published figures.
//
// Network: inputs i1 = 0.05, i2 = 0.10; hidden h1 = s(w1 i1 + w2 i2 + b1),
// h2 = s(w3 i1 + w4 i2 + b1); outputs o1 = s(w5 h1 + w6 h2 + b2),
// o2 = s(w7 h1 + w8 h2 + b2), s the logistic sigmoid; E = 1/2 (t1 - o1)^2 +
// 1/2 (t2 - o2)^2 with t = (0.01, 0.99); plain gradient descent with learning
// rate 0.5 on w1..w8; the biases b1 = 0.35 and b2 = 0.60 stay fixed, as in
// the walkthrough.
//
// Three published figures are not what an exact computation of that
// description gives (see walkthrough_notes() and examples/README.md). We
// report both numbers and explain where each published one comes from;
// nothing here is tuned to reproduce them.
#include <autograd/autograd.hpp>

#include <fmt/format.h>

#include <array>
#include <cmath>
#include <string>
#include <vector>

namespace examples {

struct Walkthrough222 {
    static constexpr double i1 = 0.05, i2 = 0.10, t1 = 0.01, t2 = 0.99;
    static constexpr double b1 = 0.35, b2 = 0.60, learning_rate = 0.5;
    static constexpr std::array<double, 8> initial_weights = {0.15, 0.20, 0.25, 0.30, 0.40, 0.45, 0.50, 0.55};
};
using Weights8 = std::array<double, 8>;  // w1..w8 at indices 0..7

// The engine's forward pass: E and the two outputs, recorded on the tape.
struct Walkthrough222Forward {
    ag::Value error, o1, o2;
};
inline Walkthrough222Forward walkthrough_forward(const std::array<ag::Value, 8>& w) {
    using N = Walkthrough222;
    const ag::Value h1 = ag::sigmoid(w[0] * N::i1 + w[1] * N::i2 + N::b1);
    const ag::Value h2 = ag::sigmoid(w[2] * N::i1 + w[3] * N::i2 + N::b1);
    const ag::Value o1 = ag::sigmoid(w[4] * h1 + w[5] * h2 + N::b2);
    const ag::Value o2 = ag::sigmoid(w[6] * h1 + w[7] * h2 + N::b2);
    const ag::Value error = 0.5 * ag::pow(N::t1 - o1, 2.0) + 0.5 * ag::pow(N::t2 - o2, 2.0);
    return {error, o1, o2};
}

// The hand-derived delta rule, in plain doubles, for comparison:
//   delta_o = (o - t) o (1 - o),            dE/dw(h -> o) = delta_o h
//   delta_h = (sum_o delta_o w(h -> o)) h (1 - h),  dE/dw(i -> h) = delta_h i
// `output_weights_first` = true computes delta_h with the output weights
// already updated in the same round: the order that reproduces the published
// 0.291027924 and the published outputs after 10,000 rounds.
struct HandStep {
    Weights8 gradient{};
    Weights8 updated{};
    double error = 0, o1 = 0, o2 = 0;  // before the update
};
inline HandStep walkthrough_hand_step(const Weights8& w, bool output_weights_first = false) {
    using N = Walkthrough222;
    const auto s = [](double a) { return 1.0 / (1.0 + std::exp(-a)); };
    const double h1 = s(w[0] * N::i1 + w[1] * N::i2 + N::b1), h2 = s(w[2] * N::i1 + w[3] * N::i2 + N::b1);
    const double o1 = s(w[4] * h1 + w[5] * h2 + N::b2), o2 = s(w[6] * h1 + w[7] * h2 + N::b2);
    HandStep r;
    r.error = 0.5 * (N::t1 - o1) * (N::t1 - o1) + 0.5 * (N::t2 - o2) * (N::t2 - o2);
    r.o1 = o1;
    r.o2 = o2;
    const double delta_o1 = (o1 - N::t1) * o1 * (1 - o1), delta_o2 = (o2 - N::t2) * o2 * (1 - o2);
    r.gradient[4] = delta_o1 * h1;
    r.gradient[5] = delta_o1 * h2;
    r.gradient[6] = delta_o2 * h1;
    r.gradient[7] = delta_o2 * h2;
    r.updated = w;
    for (int k = 4; k < 8; ++k) r.updated[k] -= N::learning_rate * r.gradient[k];
    const Weights8& wo = output_weights_first ? r.updated : w;
    const double delta_h1 = (delta_o1 * wo[4] + delta_o2 * wo[6]) * h1 * (1 - h1);
    const double delta_h2 = (delta_o1 * wo[5] + delta_o2 * wo[7]) * h2 * (1 - h2);
    r.gradient[0] = delta_h1 * N::i1;
    r.gradient[1] = delta_h1 * N::i2;
    r.gradient[2] = delta_h2 * N::i1;
    r.gradient[3] = delta_h2 * N::i2;
    for (int k = 0; k < 4; ++k) r.updated[k] -= N::learning_rate * r.gradient[k];
    return r;
}

// A published figure beside ours. `published` is kept as printed, so that
// its number of decimals says how far it claims to be right.
struct PublishedFigure {
    std::string what;
    std::string published;
    double engine = 0;
    double published_value() const { return std::stod(published); }
    int decimals() const {
        const auto dot = published.find('.');
        return dot == std::string::npos ? 0 : static_cast<int>(published.size() - dot - 1);
    }
    double difference() const { return engine - published_value(); }
    // True when the engine's value rounds to the published digits (with a
    // hair of slack for the decimal representation of the boundary).
    bool agrees() const { return std::fabs(difference()) <= 0.5 * std::pow(10.0, -decimals()) * (1 + 1e-9); }
};

struct WalkthroughFigures {
    double error_before = 0;
    Weights8 engine_gradient{};  // dE/dw at the initial weights, from backward()
    Weights8 hand_gradient{};    // the delta rule
    Weights8 weights_after_one{};
    double error_after_one = 0;
    double error_after_9999 = 0;
    double error_after_10000 = 0, o1_after_10000 = 0, o2_after_10000 = 0;
    // The largest gap between the engine's run and the hand-formula run over
    // all 10,000 rounds (weights).
    double max_engine_vs_hand = 0;
    // The same training with the output weights updated before the hidden
    // deltas are computed (hand formulas): where the published figures
    // 0.291027924 and 0.015912196 / 0.984065734 come from.
    double variant_error_after_one = 0;
    double variant_error_after_10000 = 0, variant_o1_after_10000 = 0, variant_o2_after_10000 = 0;
    std::vector<PublishedFigure> published;
};

inline WalkthroughFigures backprop_walkthrough(int rounds = 10000) {
    using N = Walkthrough222;
    ag::Scope scope;
    std::array<ag::Value, 8> w;
    for (int k = 0; k < 8; ++k) w[k] = ag::Value(N::initial_weights[k], fmt::format("w{}", k + 1));

    WalkthroughFigures r;
    Weights8 hand = N::initial_weights, variant = N::initial_weights;
    double error_now = 0, o1_now = 0, o2_now = 0;
    // Round k: forward, backward, update. The error printed "after n rounds"
    // is the forward pass at the start of round n + 1.
    for (int round = 0; round <= rounds; ++round) {
        ag::Scope step;  // frees this round's nodes; the weights stay
        const Walkthrough222Forward f = walkthrough_forward(w);
        error_now = f.error.data();
        o1_now = f.o1.data();
        o2_now = f.o2.data();
        if (round == 0) r.error_before = error_now;
        if (round == 1) r.error_after_one = error_now;
        if (round == rounds - 1) r.error_after_9999 = error_now;
        if (round == rounds) break;

        ag::zero_grad({w.begin(), w.end()});
        f.error.backward();
        const HandStep hs = walkthrough_hand_step(hand);
        for (int k = 0; k < 8; ++k) {
            if (round == 0) {
                r.engine_gradient[k] = w[k].grad();
                r.hand_gradient[k] = hs.gradient[k];
            }
            w[k].set_data(w[k].data() - N::learning_rate * w[k].grad());
        }
        hand = hs.updated;
        variant = walkthrough_hand_step(variant, true).updated;
        if (round == 0) {
            r.variant_error_after_one = walkthrough_hand_step(variant).error;
            for (int k = 0; k < 8; ++k) r.weights_after_one[k] = w[k].data();
        }
        for (int k = 0; k < 8; ++k)
            r.max_engine_vs_hand = std::max(r.max_engine_vs_hand, std::fabs(w[k].data() - hand[k]));
    }
    r.error_after_10000 = error_now;
    r.o1_after_10000 = o1_now;
    r.o2_after_10000 = o2_now;
    const HandStep v = walkthrough_hand_step(variant);
    r.variant_error_after_10000 = v.error;
    r.variant_o1_after_10000 = v.o1;
    r.variant_o2_after_10000 = v.o2;

    const Weights8& a = r.weights_after_one;
    r.published = {
        {"total error before training", "0.298371109", r.error_before},
        {"w5 after one update", "0.35891648", a[4]},
        {"w6 after one update", "0.408666186", a[5]},
        {"w7 after one update", "0.511301270", a[6]},
        {"w8 after one update", "0.561370121", a[7]},
        {"w1 after one update", "0.149780716", a[0]},
        {"w2 after one update", "0.19956143", a[1]},
        {"w3 after one update", "0.24975114", a[2]},
        {"w4 after one update", "0.29950229", a[3]},
        {"error after the first round", "0.291027924", r.error_after_one},
        {"  (as also quoted)", "0.291027920", r.error_after_one},
        {"error after 10,000 rounds", "0.0000351085", r.error_after_10000},
        {"o1 after 10,000 rounds", "0.015912196", r.o1_after_10000},
        {"o2 after 10,000 rounds", "0.984065734", r.o2_after_10000},
    };
    return r;
}

// Plain-words explanations of the disagreements, with both numbers, for the
// program's output (the README has the same paragraph).
inline std::vector<std::string> walkthrough_notes(const WalkthroughFigures& r) {
    return {
        fmt::format("The error after the first round is {:.12f} when every weight is updated with the gradient at "
                    "the old weights, as the walkthrough's text prescribes. The published 0.291027924 is what one "
                    "gets ({:.12f}) if the hidden-layer deltas are computed with w5..w8 already updated; the "
                    "published w1..w4 are nevertheless the exact ones. (The figure 0.291027920, also quoted for it, "
                    "matches neither.)",
                    r.error_after_one, r.variant_error_after_one),
        fmt::format("After 10,000 rounds the exact error is {:.10e}; the published 0.0000351085 is the exact error "
                    "after 9,999 rounds ({:.10e}), i.e. the one measured at the start of round 10,000.",
                    r.error_after_10000, r.error_after_9999),
        fmt::format("The exact outputs after 10,000 rounds are {:.9f} and {:.9f}; the published 0.015912196 and "
                    "0.984065734 come from the other update order above ({:.9f} and {:.9f}, whose error is "
                    "{:.10e}, not the published one).",
                    r.o1_after_10000, r.o2_after_10000, r.variant_o1_after_10000, r.variant_o2_after_10000,
                    r.variant_error_after_10000),
    };
}

}  // namespace examples
