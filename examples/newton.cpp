// Example 8: Newton's method (the exact Hessian from the engine at every
// step) beside gradient descent with a fixed step on the Rosenbrock
// function from (-1.2, 1): both paths, the Hessians, and what the Hessian
// at the minimum says about gradient descent.
#include "examples/common.hpp"
#include "examples/newton.hpp"
#include "examples/svg.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <filesystem>
#include <string>
#include <vector>

namespace {

void print_iterate_header(bool with_hessian) {
    fmt::print("{:>6} {:>21} {:>21} {:>12} {:>12}", "step", "x", "y", "f", "|grad f|");
    if (with_hessian)
        fmt::print(" {:>13} {:>13} {:>13} {:>22} {:>9}", "H_xx", "H_xy", "H_yy", "eigenvalues of H", "vs hand");
    fmt::print("\n");
}

void print_iterate(const examples::Iterate& it) {
    fmt::print("{:>6} {:>21.17g} {:>21.17g} {:>12.5e} {:>12.5e}", it.step, it.x, it.y, it.f, it.grad_norm);
}

void print_descent(const examples::DescentRun& run, const examples::NewtonSettings& s, const std::string& title,
                   double steep_factor) {
    fmt::print("{}\n", title);
    print_iterate_header(false);
    for (const auto& it : run.printed) {
        print_iterate(it);
        fmt::print("\n");
    }
    if (run.converged)
        fmt::print("|grad f| < {:g} after {} steps ({} gradients).\n", s.tolerance, run.steps, run.steps + 1);
    else
        fmt::print("Stopped: {}; |grad f| = {:.6g}.\n", run.stopped, run.last.grad_norm);
    if (run.two_cycle)
        fmt::print(
            "It ends bouncing between ({:.12f}, {:.12f}) and ({:.12f}, {:.12f}), across the valley: a "
            "two-cycle, not convergence.\n",
            run.second_last.x, run.second_last.y, run.last.x, run.last.y);
    if (!run.converged && run.smallest_gradient.step > 0 && run.smallest_gradient.step < run.last.step)
        fmt::print("{}\n", examples::wrap(fmt::format(
                               "On the way, |grad f| fell to {:.3g} (step {}) before it grew again: near the minimum "
                               "the steep direction is multiplied by |1 - eta lambda_max| = {:.4f} a step, so the "
                               "rounding error left in it grew until it took over.",
                               run.smallest_gradient.grad_norm, run.smallest_gradient.step, steep_factor)));
    fmt::print("\n");
}

void draw(const examples::NewtonFigures& r, const std::string& out_dir) {
    namespace svg = examples::svg;
    // The plane shaded by log10(1 + f) in bands, both paths on top.
    // Room below y = -3.6 for the legend, clear of Newton's lowest point.
    const svg::Range xr{-1.6, 1.6}, yr{-4.4, 1.8};
    svg::Plot plane("Rosenbrock: Newton's path and gradient descent's", "x", "y", xr, yr, 640, 600);
    const int nx = 160, ny = 155;
    const char* bands[] = {"#f7fbff", "#deebf7", "#c6dbef", "#9ecae1", "#6baed6", "#4292c6", "#2171b5", "#08519c"};
    auto band = [&](double x, double y) {
        const double level = std::log10(1 + examples::rosenbrock(x, y));  // 0 .. about 3.5 here
        return std::clamp(static_cast<int>(level / 3.8 * 8), 0, 7);
    };
    const double dx = (xr.hi - xr.lo) / nx, dy = (yr.hi - yr.lo) / ny;
    // One rectangle per run of cells in the same band keeps the file small.
    for (int i = 0; i < ny; ++i)
        for (int j = 0; j < nx;) {
            const double yc = yr.lo + (i + 0.5) * dy;
            const int b = band(xr.lo + (j + 0.5) * dx, yc);
            int end = j + 1;
            while (end < nx && band(xr.lo + (end + 0.5) * dx, yc) == b) ++end;
            plane.cell(xr.lo + j * dx, yr.lo + i * dy, xr.lo + end * dx, yr.lo + (i + 1) * dy, bands[b]);
            j = end;
        }
    // Points far outside are clipped by the frame; non-finite ones (a diverging run) are left out.
    std::vector<double> gx, gy, nxs, nys;
    for (const auto& p : r.descent.path)
        if (std::isfinite(p[0]) && std::isfinite(p[1])) {
            gx.push_back(p[0]);
            gy.push_back(p[1]);
        }
    for (const auto& it : r.newton.iterates)
        if (std::isfinite(it.at.x) && std::isfinite(it.at.y)) {
            nxs.push_back(it.at.x);
            nys.push_back(it.at.y);
        }
    plane.line(gx, gy, "#ff7f0e", fmt::format("descent, eta {:g}", r.descent.step_size));
    plane.line(nxs, nys, "#d62728");
    plane.points(nxs, nys, "#d62728", "Newton");
    plane.points({1.0}, {1.0}, "#2ca02c", "minimum (1, 1)", 5);
    plane.legend_at_bottom();
    const std::string paths = out_dir + "/newton_paths.svg";
    plane.save(paths);

    // |grad f| against the step, both logarithmic.
    auto curve = [](const std::vector<std::array<double, 2>>& points, std::vector<double>& xs,
                    std::vector<double>& ys) {
        for (const auto& p : points)
            if (p[1] > 0 && std::isfinite(p[1])) {
                xs.push_back(std::log10(1 + p[0]));
                ys.push_back(std::log10(p[1]));
            }
    };
    std::vector<double> dxs, dys, txs, tys, nxl, nyl;
    curve(r.descent.grad_curve, dxs, dys);
    curve(r.descent_too_large.grad_curve, txs, tys);
    for (const auto& it : r.newton.iterates)
        if (it.at.grad_norm > 0 && std::isfinite(it.at.grad_norm)) {
            nxl.push_back(std::log10(1.0 + it.at.step));
            nyl.push_back(std::log10(it.at.grad_norm));
        }
    svg::Plot conv("Rosenbrock: |grad f| per step", "log10(1 + step)", "log10 |grad f|", svg::range_of({dxs, txs, nxl}),
                   svg::range_of({dys, tys, nyl}));
    conv.line(dxs, dys, "#ff7f0e", fmt::format("descent, eta {:g}", r.descent.step_size));
    conv.line(txs, tys, "#9467bd", fmt::format("descent, eta {:g}", r.descent_too_large.step_size));
    conv.line(nxl, nyl, "#d62728");
    conv.points(nxl, nyl, "#d62728", "Newton");
    conv.legend_at_bottom();
    const std::string curves = out_dir + "/newton_convergence.svg";
    conv.save(curves);
    fmt::print("pictures: {}, {}\n", paths, curves);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Newton's method beside gradient descent on the Rosenbrock function: paths and Hessians");
    examples::NewtonSettings s;
    std::string out_dir = TAPEGRAD_EXAMPLES_OUT;
    app.add_option("--step", s.descent_step, "gradient descent's fixed step eta (positive)")->capture_default_str();
    app.add_option("--max-steps", s.descent_cap, "most gradient-descent steps")
        ->check(CLI::Range(1, 100'000'000))
        ->capture_default_str();
    std::vector<double> start = {s.start_x, s.start_y};
    app.add_option("--start", start, "starting point x y")->expected(2)->capture_default_str();
    app.add_option("--out", out_dir, "directory for the pictures");
    CLI11_PARSE(app, argc, argv);
    if (!std::isfinite(start[0]) || !std::isfinite(start[1])) {
        fmt::print(stderr, "newton: --start must be two finite numbers, got ({}, {})\n", start[0], start[1]);
        return 2;
    }
    if (!(s.descent_step > 0) || !std::isfinite(s.descent_step)) {
        fmt::print(stderr, "newton: --step must be a positive finite number, got {}\n", s.descent_step);
        return 2;
    }
    s.start_x = start[0];
    s.start_y = start[1];

    const examples::NewtonFigures r = examples::newton_example(s);
    fmt::print(
        "f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum f(1, 1) = 0; start ({}, {}); stop when |grad f| < "
        "{:g}\n",
        s.start_x, s.start_y, s.tolerance);
    fmt::print("Hessian by hand: H = [[1200 x^2 - 400 y + 2, -400 x], [-400 x, 200]]\n\n");

    fmt::print("Newton's method: x <- x - H^-1 grad f, with H = ag::hessian(f, x) at every step\n");
    print_iterate_header(true);
    for (const auto& it : r.newton.iterates) {
        print_iterate(it.at);
        if (!it.hessian.empty())
            fmt::print(" {:>13.6f} {:>13.6f} {:>13.6f} {:>22} {:>9.1e}", it.hessian[0][0], it.hessian[0][1],
                       it.hessian[1][1], fmt::format("{:.4f}, {:.4f}", it.eigenvalues[0], it.eigenvalues[1]),
                       it.hessian_error);
        fmt::print("\n");
    }
    if (r.newton.converged)
        fmt::print("|grad f| < {:g} after {} steps ({} gradients, {} Hessians).\n", s.tolerance, r.newton.steps,
                   r.gradients_newton, r.hessians_newton);
    else
        fmt::print("Stopped after {} steps: {}.\n", r.newton.steps, r.newton.stopped);
    fmt::print("(\"vs hand\": largest |engine - formula| over the four entries, relative to the largest entry.)\n\n");

    const double lambda_max = r.eigenvalues_at_minimum[0];
    print_descent(r.descent, s, fmt::format("Gradient descent: x <- x - eta grad f, eta = {:g}", r.descent.step_size),
                  std::fabs(1 - r.descent.step_size * lambda_max));
    print_descent(r.descent_too_large, s,
                  fmt::format("Gradient descent, eta = {:g}: just above 2 / lambda_max = {:.7f} (see below)",
                              r.descent_too_large.step_size, r.largest_stable_step),
                  std::fabs(1 - r.descent_too_large.step_size * lambda_max));

    const auto& h = r.hessian_at_minimum;
    const auto& ev = r.eigenvalues_at_minimum;
    fmt::print("What the Hessian at the minimum says\n");
    fmt::print("  H(1, 1) = [[{:g}, {:g}], [{:g}, {:g}]], eigenvalues {:.6f} and {:.6f} (condition number {:.1f})\n",
               h[0][0], h[0][1], h[1][0], h[1][1], ev[0], ev[1], ev[0] / ev[1]);
    fmt::print("{}\n",
               examples::wrap(fmt::format(
                   "- Gradient descent is stable near the minimum only for eta < 2 / lambda_max = {:.7f}: eta = {:g} "
                   "overshoots across the valley's steep walls and never settles.",
                   r.largest_stable_step, r.descent_too_large.step_size)));
    const double slow_direction = (h[0][0] - ev[1]) / -h[0][1];  // (H - lambda_min I) (1, v) = 0
    std::string rate = fmt::format(
        "- Along the valley floor (the eigenvector of lambda_min, direction (1, {:.4f})) each step of eta = {:g} "
        "shrinks the error by 1 - eta lambda_min = {:.7f}: ln 10 / -ln(1 - eta lambda_min) = {:.1f} steps per "
        "tenfold fall of |grad f|",
        slow_direction, r.descent.step_size, 1 - r.descent.step_size * ev[1], r.predicted_steps_per_decade);
    if (r.descent.steps_per_decade > 0)
        rate += fmt::format("; the run took {:.2f} per tenfold fall over its last four.", r.descent.steps_per_decade);
    else
        rate += ".";
    fmt::print("{}\n", examples::wrap(rate));
    if (r.descent.converged) {
        const double ex = r.descent.last.x - 1, ey = r.descent.last.y - 1;
        fmt::print("{}\n", examples::wrap(fmt::format(
                               "- Gradient descent's last iterate is off by ({:.4e}, {:.4e}) from (1, 1): direction "
                               "(1, {:.4f}), the slow eigenvector: what is left is error along the valley.",
                               ex, ey, ey / ex)));
    }
    std::string newton_note =
        "- Newton's step divides the gradient along each eigenvector of H by its own curvature, so the valley costs it "
        "nothing, and near the minimum each step squares the error";
    const auto& its = r.newton.iterates;
    for (std::size_t k = 1; k < its.size(); ++k)
        if (its[k].at.f > its[k - 1].at.f) {
            newton_note += fmt::format(
                ". It is not a descent method: it solves grad f = 0 from a quadratic model, and "
                "at step {} f rose from {:.6g} to {:.6g}",
                k, its[k - 1].at.f, its[k].at.f);
            break;
        }
    fmt::print("{}.\n\n", examples::wrap(newton_note));
    try {
        std::filesystem::create_directories(out_dir);
        draw(r, out_dir);
    } catch (const std::exception& e) {
        fmt::print(stderr, "newton: cannot write the pictures to '{}': {}\n", out_dir, e.what());
        return 1;
    }
}
