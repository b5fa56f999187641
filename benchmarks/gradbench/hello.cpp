// hello: square(x) = x·x and its derivative, "double" (2x). The smoke test
// of the protocol; its input is a bare number and it runs once.
#include "gradbench.hpp"

namespace gradbench {

namespace {

template <class T>
T square(const T& x) {
    return x * x;
}

Evaluation square_of(const json& input) {
    const double x = number(input, "hello input");
    double y = 0;
    auto ns = run_timed(runs_of(input), [&] { y = square(x); });
    return {y, std::move(ns)};
}

Evaluation derivative_of_square(const json& input) {
    const double x = number(input, "hello input");
    double dy = 0;
    auto ns = run_timed(runs_of(input), [&] {
        ag::Scope scope;
        const ag::Value xv = x;
        square(xv).backward();
        dy = xv.grad();
    });
    return {dy, std::move(ns)};
}

}  // namespace

extern const Module hello_module{"hello", {{"square", square_of}, {"double", derivative_of_square}}, {}};

}  // namespace gradbench
