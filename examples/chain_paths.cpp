// Example 4: dC/dw for first-layer weights of a 4-layer sigmoid network, as
// the chain rule summed over every path, beside the engine.
#include "examples/chain_paths.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

int main(int argc, char** argv) {
    CLI::App app("The chain rule summed over every path of a 4-layer sigmoid network");
    CLI11_PARSE(app, argc, argv);

    const examples::ChainFigures r = examples::chain_paths_example();
    fmt::print("4-layer sigmoid network 3 -> 4 -> 4 -> 4 -> 2, C = 1/2 sum (a4 - y)^2 = {:.12f}\n\n", r.cost);
    fmt::print(
        "dC/dw1_jk = sum over paths j -> q -> r -> m of\n"
        "           x_k s'(z1_j) W2_qj s'(z2_q) W3_rq s'(z3_r) W4_mr s'(z4_m) (a4_m - y_m)\n\n");

    auto terms = r.example_terms;
    std::sort(terms.begin(), terms.end(),
              [](const auto& a, const auto& b) { return std::fabs(a.product) > std::fabs(b.product); });
    fmt::print("The {} paths of w1_11, largest first:\n", terms.size());
    fmt::print("{:>4} {:>10} {:>24}\n", "", "path", "product");
    double shown = 0;
    for (std::size_t p = 0; p < terms.size(); ++p) {
        if (p < 6 || p + 2 > terms.size())
            fmt::print("{:>4} 1>{}>{}>{}    {:>24.15e}\n", p + 1, terms[p].q + 1, terms[p].r + 1, terms[p].m + 1,
                       terms[p].product);
        else if (p == 6)
            fmt::print("{:>4} ...\n", "");
        shown += terms[p].product;
    }
    fmt::print("     sum over all paths: {:.15e}\n\n", shown);

    fmt::print("{:<8} {:>5} {:>24} {:>24} {:>24}\n", "weight", "paths", "sum over paths", "engine backward()",
               "finite difference");
    for (const auto& row : r.rows)
        fmt::print("w1_{}{:<4} {:>5} {:>24.15e} {:>24.15e} {:>24.15e}\n", row.j + 1, row.k + 1, row.paths, row.path_sum,
                   row.engine, row.finite_difference);
    fmt::print("\nlargest |sum over paths - engine| / max|dC/dw| = {:.1e}\n", r.max_path_vs_engine);
    fmt::print("largest |finite difference - engine| / max|dC/dw| = {:.1e}\n", r.max_fd_vs_engine);
}
