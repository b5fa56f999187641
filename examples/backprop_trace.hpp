#pragma once
// Example 2b: the 2-2-2 walkthrough's hand computation of dE/dw5 and dE/dw1
// (Matt Mazur, "A Step by Step Backpropagation Example"), printed as the
// engine's own trace: ag::explain(E, {w5, w1}) walks the recorded network
// from E down, and each factor the walkthrough multiplies by hand is a
// number in that trace (an adjoint, a local derivative, a contribution).
//
// The network and its numbers are example 2's (backprop_walkthrough.hpp);
// here its nodes carry the walkthrough's names (net_h1, out_h1, E_o1, ...),
// so the trace reads like the hand computation.
#include "examples/backprop_walkthrough.hpp"

#include <autograd/autograd.hpp>
#include <autograd/explain.hpp>

#include <array>
#include <string>
#include <vector>

namespace examples {

// The recorded network, the nodes the walkthrough names kept.
struct Network222 {
    std::array<ag::Value, 8> w;  // w1..w8
    ag::Value w1_i1;             // w1 * i1, the term of net_h1 that holds w1
    ag::Value net_h1, out_h1, net_h2, out_h2;
    ag::Value w5_h1, w7_h1;  // the two terms through which out_h1 reaches E
    ag::Value net_o1, out_o1, net_o2, out_o2;
    ag::Value e_o1, e_o2, e_total;
};

// Records the forward pass at the walkthrough's initial weights.
inline Network222 record_network_222() {
    using N = Walkthrough222;
    Network222 n;
    for (int k = 0; k < 8; ++k) n.w[k] = ag::Value(N::initial_weights[k], fmt::format("w{}", k + 1));
    auto named = [](ag::Value v, const char* name) {
        v.set_name(name);
        return v;
    };
    const auto& w = n.w;
    n.w1_i1 = w[0] * N::i1;
    n.net_h1 = named(n.w1_i1 + w[1] * N::i2 + N::b1, "net_h1");
    n.out_h1 = named(ag::sigmoid(n.net_h1), "out_h1");
    n.net_h2 = named(w[2] * N::i1 + w[3] * N::i2 + N::b1, "net_h2");
    n.out_h2 = named(ag::sigmoid(n.net_h2), "out_h2");
    n.w5_h1 = w[4] * n.out_h1;
    n.net_o1 = named(n.w5_h1 + w[5] * n.out_h2 + N::b2, "net_o1");
    n.out_o1 = named(ag::sigmoid(n.net_o1), "out_o1");
    n.w7_h1 = w[6] * n.out_h1;
    n.net_o2 = named(n.w7_h1 + w[7] * n.out_h2 + N::b2, "net_o2");
    n.out_o2 = named(ag::sigmoid(n.net_o2), "out_o2");
    n.e_o1 = named(0.5 * ag::pow(N::t1 - n.out_o1, 2.0), "E_o1");
    n.e_o2 = named(0.5 * ag::pow(N::t2 - n.out_o2, 2.0), "E_o2");
    n.e_total = named(n.e_o1 + n.e_o2, "E_total");
    return n;
}

// One factor of the hand computation: its name in the walkthrough, the
// figure printed there (to its digits), and the number read from the trace.
struct TraceFactor {
    PublishedFigure figure;
    std::string where;  // where in the trace it is
};

struct BackpropTrace {
    std::string text;                       // ag::explain(E_total, {w5, w1}).text()
    std::vector<TraceFactor> w5, w1;        // the two chains, factor by factor, then the product
    double engine_dw5 = 0, engine_dw1 = 0;  // ag::grad(E_total, {w5, w1})
};

inline BackpropTrace backprop_trace() {
    ag::Scope scope;
    const Network222 n = record_network_222();
    const ag::Explanation e = ag::explain(n.e_total, {n.w[4], n.w[0]});
    BackpropTrace r;
    r.text = e.text();
    const std::vector<double> g = ag::grad(n.e_total, {n.w[4], n.w[0]});
    r.engine_dw5 = g[0];
    r.engine_dw1 = g[1];

    // dE/dw5 = dE/dout_o1 * dout_o1/dnet_o1 * dnet_o1/dw5. The adjoint of
    // net_o1 (the walkthrough's delta_o1) reaches w5 through the term
    // w5 * out_h1 (its local derivative 1 in the sum), whose derivative by
    // w5 is out_h1.
    const ag::ExplainNode& out_o1 = e.node(n.out_o1);
    const ag::ExplainNode& w5_h1 = e.node(n.w5_h1);
    r.w5 = {
        {{"∂E_total/∂out_o1", "0.74136507", out_o1.adjoint}, "adjoint of out_o1"},
        {{"∂out_o1/∂net_o1", "0.186815602", out_o1.inputs[0].local}, "out_o1's local derivative, y (1 - y)"},
        {{"∂net_o1/∂w5", "0.593269992", w5_h1.inputs[0].local}, "local derivative of w5 * out_h1 by w5 (= out_h1)"},
        {{"∂E_total/∂w5", "0.082167041", e.gradient[0].gradient}, "the trace's gradient for w5"},
    };

    // dE/dw1 = dE/dout_h1 * dout_h1/dnet_h1 * dnet_h1/dw1, where dE/dout_h1
    // is the sum of what out_h1 receives from its two uses (w5 * out_h1 on
    // the way to E_o1, w7 * out_h1 on the way to E_o2).
    const ag::ExplainNode& out_h1 = e.node(n.out_h1);
    double from_o1 = 0, from_o2 = 0;
    for (const ag::ExplainContribution& c : out_h1.received) {
        if (c.from == n.w5_h1.index()) from_o1 += c.amount;
        if (c.from == n.w7_h1.index()) from_o2 += c.amount;
    }
    r.w1 = {
        {{"∂E_o1/∂out_h1", "0.055399425", from_o1}, "what w5 * out_h1 sends to out_h1"},
        {{"∂E_o2/∂out_h1", "-0.019049119", from_o2}, "what w7 * out_h1 sends to out_h1"},  // see the note below
        {{"∂E_total/∂out_h1", "0.036350306", out_h1.adjoint}, "adjoint of out_h1 (their sum)"},
        {{"∂out_h1/∂net_h1", "0.241300709", out_h1.inputs[0].local}, "out_h1's local derivative, y (1 - y)"},
        {{"∂net_h1/∂w1", "0.05", e.node(n.w1_i1).inputs[0].local}, "local derivative of w1 * i1 by w1 (= i1)"},
        {{"∂E_total/∂w1", "0.000438568", e.gradient[1].gradient}, "the trace's gradient for w1"},
    };
    return r;
}

// The one factor whose published last digit differs, and why.
inline std::string backprop_trace_note(const BackpropTrace& r) {
    return fmt::format(
        "∂E_o2/∂out_h1 is {:.10f} (to 10 decimals), which rounds to -0.019049118; the published -0.019049119 "
        "is the product of the rounded ∂E_o2/∂net_o2 = -0.038098237 and w7 = 0.5 (-0.0190491185, rounded away "
        "from zero). The walkthrough's sum, 0.036350306, and everything after it agree.",
        r.w1[1].figure.engine);
}

}  // namespace examples
