// Example 2b: the 2-2-2 walkthrough's dE/dw5 and dE/dw1, by hand in the
// walkthrough, here as the engine's printed trace (ag::explain).
#include "examples/backprop_trace.hpp"
#include "examples/common.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

namespace {

void print_chain(const char* title, const std::vector<examples::TraceFactor>& chain) {
    fmt::print("\n{}\n", title);
    fmt::print("  {:<18} {:>13} {:>22}  {}\n", "factor", "published", "from the trace", "where in the trace");
    for (const examples::TraceFactor& f : chain)
        fmt::print("  {:<18} {:>13} {:>22.{}f}  {}{}\n", f.figure.what, f.figure.published, f.figure.engine,
                   f.figure.decimals() + 3, f.where, f.figure.agrees() ? "" : "  (last digit differs: see below)");
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("The 2-2-2 walkthrough's dE/dw5 and dE/dw1 as the engine's printed trace");
    CLI11_PARSE(app, argc, argv);

    const examples::BackpropTrace r = examples::backprop_trace();
    fmt::print(
        "The 2-2-2 network of example 2 at its initial weights, E_total = E_o1 + E_o2.\n"
        "ag::explain(E_total, {{w5, w1}}): the nodes on the paths from w5 and w1 to E_total,\n"
        "then the reverse sweep from E_total down (i1 = 0.05, i2 = 0.1, b1 = 0.35, b2 = 0.6,\n"
        "t1 = 0.01, t2 = 0.99 enter as constants).\n\n");
    fmt::print("{}", r.text);
    print_chain("∂E_total/∂w5 = ∂E_total/∂out_o1 × ∂out_o1/∂net_o1 × ∂net_o1/∂w5, as the walkthrough computes it:",
                r.w5);
    print_chain("∂E_total/∂w1 = ∂E_total/∂out_h1 × ∂out_h1/∂net_h1 × ∂net_h1/∂w1, as the walkthrough computes it:",
                r.w1);
    fmt::print("\n{}\n", examples::wrap(examples::backprop_trace_note(r)));
    fmt::print("\nThe trace's gradients are backward()'s: ∂E/∂w5 = {} and ∂E/∂w1 = {} from ag::grad.\n", r.engine_dw5,
               r.engine_dw1);
}
