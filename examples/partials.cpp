// Example 1: prints f = (x + y) z and its partials at (-2, 5, -4), from the
// engine's backward(), by hand, and by central differences.
#include "examples/partials.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
    CLI::App app("Partials of (x + y) * z at (-2, 5, -4): backward(), by hand, finite differences");
    CLI11_PARSE(app, argc, argv);

    const examples::PartialsFigures r = examples::partials_of_expression();
    fmt::print("f(x, y, z) = (x + y) * z   at x = {}, y = {}, z = {}\n\n", r.point[0], r.point[1], r.point[2]);
    fmt::print("f = {}   (by hand: ({} + {}) * {} = {})\n\n", r.f, r.point[0], r.point[1], r.point[2], r.f_by_hand);
    fmt::print("{:<7} {:>12} {:>12} {:>22}   {}\n", "", "backward()", "by hand", "finite difference", "hand formula");
    const char* formulas[] = {"z", "z", "x + y"};
    int k = 0;
    for (const auto& row : r.rows)
        fmt::print("{:<7} {:>12} {:>12} {:>22.15f}   {}\n", row.name, row.engine, row.by_hand, row.finite_difference,
                   formulas[k++]);
}
