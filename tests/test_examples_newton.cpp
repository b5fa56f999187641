// The figures of example 8 (examples/newton.hpp): Newton's method beside
// gradient descent on the Rosenbrock function from (-1.2, 1). Reference
// step counts and end points marked "independent" were computed outside
// this project, in plain double precision with the hand-derived gradient
// (a few lines of Python); every Hessian is checked against the closed
// form written out again here.
#include "examples/newton.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace {

double hand_f(double x, double y) { return (1 - x) * (1 - x) + 100 * (y - x * x) * (y - x * x); }
double hand_grad_norm(double x, double y) {
    return std::hypot(-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x));
}

// f and |grad f| of an iterate against the formulas, at its own point.
void check_iterate(const examples::Iterate& it) {
    CAPTURE(it.step);
    CHECK(it.f == doctest::Approx(hand_f(it.x, it.y)).epsilon(1e-12).scale(1e-300));
    // Near the minimum the gradient's terms cancel: rounding of order 1e-13 in either formula.
    CHECK(std::fabs(it.grad_norm - hand_grad_norm(it.x, it.y)) <= 1e-9 * it.grad_norm + 1e-12);
}

// H = [[1200 x^2 - 400 y + 2, -400 x], [-400 x, 200]] and lambda = (tr +- sqrt(tr^2 - 4 det)) / 2.
void check_hessian(const examples::NewtonIterate& it) {
    const double x = it.at.x, y = it.at.y;
    const double hxx = 1200 * x * x - 400 * y + 2, hxy = -400 * x, hyy = 200;
    const double scale = std::max({std::fabs(hxx), std::fabs(hxy), hyy});
    CAPTURE(it.at.step);
    REQUIRE(it.hessian.size() == 2);
    CHECK(it.hessian[0][0] == doctest::Approx(hxx).epsilon(1e-13).scale(scale));
    CHECK(it.hessian[0][1] == doctest::Approx(hxy).epsilon(1e-13).scale(scale));
    CHECK(it.hessian[1][0] == doctest::Approx(hxy).epsilon(1e-13).scale(scale));
    CHECK(it.hessian[1][1] == doctest::Approx(hyy).epsilon(1e-13).scale(scale));
    CHECK(it.hessian_error < 1e-13);
    const double tr = hxx + hyy, det = hxx * hyy - hxy * hxy;
    const double root = std::sqrt(tr * tr - 4 * det);
    CHECK(it.eigenvalues[0] == doctest::Approx((tr + root) / 2).epsilon(1e-12));
    CHECK(it.eigenvalues[1] == doctest::Approx(det / ((tr + root) / 2)).epsilon(1e-9));
}

}  // namespace

TEST_CASE("example 8: Newton's method reaches |grad f| < 1e-10 in 7 steps, with the exact Hessian at each") {
    const auto r = examples::newton_example();
    const auto& n = r.newton;
    CHECK(n.converged);
    CHECK(n.stopped.empty());
    CHECK(n.steps == 7);  // independent: 7
    REQUIRE(n.iterates.size() == 8);
    CHECK(r.gradients_newton == 8);
    CHECK(r.hessians_newton == 7);

    // The first step by hand: at (-1.2, 1), grad f = (-215.6, -88), H = [[1330, 480], [480, 200]],
    // det 35600, H^-1 grad f = (-880, -13552) / 35600.
    CHECK(n.iterates[0].at.f == doctest::Approx(24.2).epsilon(1e-15));
    CHECK(n.iterates[0].at.grad[0] == doctest::Approx(-215.6).epsilon(1e-14));
    CHECK(n.iterates[0].at.grad[1] == doctest::Approx(-88.0).epsilon(1e-14));
    CHECK(n.iterates[0].hessian == ag::Matrix{{1330, 480}, {480, 200}});
    CHECK(n.iterates[1].at.x == doctest::Approx(-1.2 + 880.0 / 35600).epsilon(1e-15));
    CHECK(n.iterates[1].at.y == doctest::Approx(1 + 13552.0 / 35600).epsilon(1e-15));

    // Every printed Hessian against the closed form; f and |grad| at every iterate.
    for (std::size_t k = 0; k < n.iterates.size(); ++k) {
        check_iterate(n.iterates[k].at);
        if (k + 1 < n.iterates.size()) check_hessian(n.iterates[k]);
    }
    CHECK(n.iterates.back().hessian.empty());  // no step from the last iterate

    // Not a descent method: f rises at step 2 (independent: 1411.845179...), then the
    // error is squared near the minimum (|grad| 25.03, 8.6e-6, 8.3e-9, then below 1e-10).
    CHECK(n.iterates[2].at.f == doctest::Approx(1411.845179310133).epsilon(1e-9));
    CHECK(n.iterates[4].at.grad_norm == doctest::Approx(25.027445596663974).epsilon(1e-6));
    CHECK(n.iterates[5].at.grad_norm == doctest::Approx(8.608633743716225e-06).epsilon(1e-4));
    CHECK(n.iterates[6].at.grad_norm == doctest::Approx(8.285705791275366e-09).epsilon(1e-3));
    CHECK(n.iterates[6].at.grad_norm > 1e-10);
    // The last point is the minimum (1, 1) to the last bit or two.
    CHECK(std::fabs(n.iterates[7].at.x - 1) <= 2.3e-16);
    CHECK(std::fabs(n.iterates[7].at.y - 1) <= 2.3e-16);
    CHECK(n.iterates[7].at.grad_norm < 1e-10);
}

TEST_CASE("example 8: gradient descent with eta = 0.001 needs 55134 steps, its error left along the slow eigenvector") {
    const auto r = examples::newton_example();
    const auto& d = r.descent;
    CHECK(d.step_size == 0.001);
    CHECK(d.converged);
    CHECK(d.steps == 55134);  // independent: 55134
    CHECK(r.gradients_descent == 55135);
    CHECK(d.last.step == 55134);
    CHECK(d.last.grad_norm < 1e-10);
    CHECK(d.second_last.grad_norm >= 1e-10);
    // The first step by hand: (-1.2, 1) - 0.001 (-215.6, -88).
    REQUIRE(d.printed.size() >= 2);
    CHECK(d.printed[1].x == doctest::Approx(-1.2 + 0.2156).epsilon(1e-15));
    CHECK(d.printed[1].y == doctest::Approx(1.088).epsilon(1e-15));
    // Printed: steps 0..5, 10, 20, 50, ..., 50000, and the last.
    std::vector<int> steps;
    for (const auto& it : d.printed) {
        steps.push_back(it.step);
        check_iterate(it);
    }
    CHECK(steps ==
          std::vector<int>{0, 1, 2, 3, 4, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 55134});
    // Independent end point: (0.9999999998882058, 0.9999999997759641).
    const double ex = 1 - d.last.x, ey = 1 - d.last.y;
    CHECK(ex == doctest::Approx(1.117942e-10).epsilon(1e-5));
    CHECK(ey == doctest::Approx(2.240359e-10).epsilon(1e-5));
    // That error lies along the eigenvector of lambda_min of H(1, 1) = [[802, -400], [-400, 200]]:
    // (1, v) with (802 - lambda_min) - 400 v = 0.
    const double lambda_min = 501 - std::sqrt(301.0 * 301 + 400 * 400);
    CHECK(ey / ex == doctest::Approx((802 - lambda_min) / 400).epsilon(1e-4));
    // The linear rate: ln 10 / -ln(1 - eta lambda_min) steps per tenfold fall of |grad|.
    const double predicted = std::log(10.0) / -std::log1p(-0.001 * lambda_min);
    CHECK(r.predicted_steps_per_decade == doctest::Approx(predicted).epsilon(1e-9));
    CHECK(predicted == doctest::Approx(5764.5).epsilon(1e-4));
    CHECK(d.steps_per_decade == doctest::Approx(predicted).epsilon(1e-3));
}

TEST_CASE("example 8: gradient descent with eta = 0.002 > 2 / lambda_max ends in a two-cycle at the cap") {
    const auto r = examples::newton_example();
    // H(1, 1) and its eigenvalues 501 +- sqrt(301^2 + 400^2).
    CHECK(r.hessian_at_minimum == ag::Matrix{{802, -400}, {-400, 200}});
    const double lambda_max = 501 + std::sqrt(301.0 * 301 + 400 * 400);
    CHECK(r.eigenvalues_at_minimum[0] == doctest::Approx(lambda_max).epsilon(1e-14));
    CHECK(r.eigenvalues_at_minimum[1] == doctest::Approx(501 - std::sqrt(301.0 * 301 + 400 * 400)).epsilon(1e-11));
    CHECK(r.largest_stable_step == doctest::Approx(2 / lambda_max).epsilon(1e-14));
    CHECK(r.descent.step_size < r.largest_stable_step);
    CHECK(r.descent_too_large.step_size > r.largest_stable_step);

    const auto& d = r.descent_too_large;
    CHECK(d.step_size == 0.002);
    CHECK_FALSE(d.converged);
    CHECK(d.steps == 100000);
    CHECK(d.stopped == "the cap of 100000 steps was reached");
    CHECK(d.two_cycle);
    // Independent: the cycle's two points and |grad| 1.5820097213 at both.
    CHECK(d.last.x == doctest::Approx(1.000414775094).epsilon(1e-10));
    CHECK(d.last.y == doctest::Approx(0.997295073200).epsilon(1e-10));
    CHECK(d.second_last.x == doctest::Approx(0.997584223905).epsilon(1e-10));
    CHECK(d.second_last.y == doctest::Approx(0.998708932810).epsilon(1e-10));
    CHECK(d.last.grad_norm == doctest::Approx(1.5820097213).epsilon(1e-9));
    CHECK(d.second_last.grad_norm == doctest::Approx(1.5820097213).epsilon(1e-9));
    check_iterate(d.last);
    // It came near the minimum before the steep direction's rounding error grew.
    CHECK(d.smallest_gradient.grad_norm < 1e-4);
    CHECK(d.smallest_gradient.step > 5000);
    CHECK(d.smallest_gradient.step < 50000);
    CHECK(d.steps_per_decade == 0);
}

TEST_CASE("example 8: other settings: a diverging step, the caps, another start") {
    examples::NewtonSettings s;
    s.descent_step = 0.01;
    s.descent_cap = 1000;
    const examples::DescentRun diverging = examples::descent_run(s, s.descent_step);
    CHECK_FALSE(diverging.converged);
    CHECK(diverging.stopped.find("is not finite at step") != std::string::npos);
    CHECK(diverging.stopped.find("eta = 0.01 diverges") != std::string::npos);
    CHECK(diverging.steps < 1000);
    CHECK_FALSE(diverging.two_cycle);

    s.descent_cap = 10;
    const examples::DescentRun capped = examples::descent_run(s, 0.001);
    CHECK_FALSE(capped.converged);
    CHECK(capped.steps == 10);
    CHECK(capped.stopped == "the cap of 10 steps was reached");
    CHECK(capped.printed.back().step == 10);

    s.newton_cap = 3;
    const examples::NewtonRun newton = examples::newton_run(s);
    CHECK_FALSE(newton.converged);
    CHECK(newton.steps == 3);
    CHECK(newton.stopped == "the cap of 3 Newton steps was reached");

    // From (2, 2), away from the valley's bend: Newton still lands on (1, 1).
    examples::NewtonSettings other;
    other.start_x = 2;
    other.start_y = 2;
    const examples::NewtonRun from_2 = examples::newton_run(other);
    CHECK(from_2.converged);
    CHECK(from_2.steps <= 10);
    CHECK(from_2.iterates.back().at.x == doctest::Approx(1).epsilon(1e-12));
    CHECK(from_2.iterates.back().at.y == doctest::Approx(1).epsilon(1e-12));
    for (std::size_t k = 0; k + 1 < from_2.iterates.size(); ++k) check_hessian(from_2.iterates[k]);
}

TEST_CASE("example 8: eigenvalues of a symmetric 2x2 matrix, the small one without cancellation") {
    const auto e = examples::symmetric_eigenvalues({{802, -400}, {-400, 200}});
    CHECK(e[0] == doctest::Approx(501 + std::sqrt(250601.0)).epsilon(1e-15));
    // det / lambda_max: 400 / 1001.6006... to the last digits.
    CHECK(e[1] == doctest::Approx(400 / (501 + std::sqrt(250601.0))).epsilon(1e-15));
    const auto neg = examples::symmetric_eigenvalues({{-3, 0}, {0, 2}});
    CHECK(neg[0] == 2);
    CHECK(neg[1] == -3);
    const auto zero = examples::symmetric_eigenvalues({{0, 0}, {0, 0}});
    CHECK(zero[0] == 0);
    CHECK(zero[1] == 0);
}
