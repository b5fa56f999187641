#pragma once
// Finite-difference gradient checking: compare the engine's gradient of f
// with central differences (f(x + h) - f(x - h)) / 2h, input by input.
#include <autograd/value.hpp>

#include <functional>
#include <string>
#include <vector>

namespace ag {

struct GradCheckOptions {
    // Step for input x is step * max(1, |x|): relative for large inputs,
    // absolute near zero. 1e-6 balances truncation and rounding error for
    // smooth functions in double precision (errors around 1e-9).
    double step = 1e-6;
    // An input passes when abs_error <= atol + rtol * |numeric|.
    double atol = 1e-6;
    double rtol = 1e-5;
    // Also check second derivatives (like PyTorch's gradgradcheck): the
    // Hessian from the recorded gradient (ag::create_graph) against central
    // differences of the gradient, entry by entry, with the same step and
    // tolerances (differences of a gradient are as accurate as those of f).
    bool second_order = false;
};

struct GradCheckEntry {
    double value = 0;      // the input's value
    double analytic = 0;   // from the engine's backward sweep
    double numeric = 0;    // central difference
    double abs_error = 0;  // |analytic - numeric|
    double rel_error = 0;  // abs_error / max(|analytic|, |numeric|, tiny)
    bool ok = false;
};

// One Hessian entry d2f / dx_row dx_col (second_order); `value` is x_col.
struct HessianCheckEntry {
    std::size_t row = 0, col = 0;
    GradCheckEntry check;
};

struct GradCheckReport {
    double f = 0;  // f at the point
    std::vector<GradCheckEntry> inputs;
    std::vector<HessianCheckEntry> hessian;  // with second_order only
    double max_abs_error = 0;
    double max_rel_error = 0;
    std::size_t worst_input = 0;  // index of the input with the largest abs_error
    bool ok() const;
    // A readable table of every input (for logs and failed tests).
    std::string table() const;
};

// Evaluates f at `point` on fresh leaves, differentiates it with ag::grad,
// and compares each partial with a central difference. Nodes it records are
// freed before it returns; f must build its result only from its arguments.
GradCheckReport check_gradients(const std::function<Value(const std::vector<Value>&)>& f,
                                const std::vector<double>& point, const GradCheckOptions& options = {});

}  // namespace ag
