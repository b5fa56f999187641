#pragma once
// Example 1: the partial derivatives of f(x, y, z) = (x + y) * z, the first
// picture of every backpropagation lecture, at (x, y, z) = (-2, 5, -4).
//
// By hand: with q = x + y, f = q z, so
//   df/dx = df/dq * dq/dx = z,   df/dy = z,   df/dz = q = x + y.
#include <autograd/autograd.hpp>

#include <array>
#include <string>
#include <vector>

namespace examples {

struct PartialRow {
    std::string name;          // "df/dx"
    double engine = 0;         // from f.backward(), read with .grad()
    double by_hand = 0;        // the formula above
    double finite_difference;  // central difference, from ag::check_gradients
};

struct PartialsFigures {
    std::array<double, 3> point{};
    double f = 0, f_by_hand = 0;
    std::vector<PartialRow> rows;
};

inline PartialsFigures partials_of_expression(double x0 = -2.0, double y0 = 5.0, double z0 = -4.0) {
    ag::Scope scope;  // frees this example's nodes on return
    const auto expression = [](const std::vector<ag::Value>& v) { return (v[0] + v[1]) * v[2]; };

    ag::Value x(x0, "x"), y(y0, "y"), z(z0, "z");
    const ag::Value f = expression({x, y, z});
    f.backward();

    const ag::GradCheckReport fd = ag::check_gradients(expression, {x0, y0, z0});
    PartialsFigures out;
    out.point = {x0, y0, z0};
    out.f = f.data();
    out.f_by_hand = (x0 + y0) * z0;
    out.rows = {{"df/dx", x.grad(), z0, fd.inputs[0].numeric},
                {"df/dy", y.grad(), z0, fd.inputs[1].numeric},
                {"df/dz", z.grad(), x0 + y0, fd.inputs[2].numeric}};
    return out;
}

}  // namespace examples
