// Linked against tapegrad::nn only (which brings tapegrad::autograd).
// Exits 0 only if a neuron with given weights computes tanh(w . x + b) and
// its gradient with respect to b, 1 - tanh^2.
#include <nn/nn.hpp>

#include <fmt/format.h>

#include <cmath>

int main() {
    const ag::nn::Neuron n({0.5, -1.0}, 0.25, ag::nn::Activation::Tanh);
    const ag::Value out = n({ag::Value(2.0), ag::Value(1.0)});
    out.backward();
    const double expected = std::tanh(0.25);
    fmt::print("out = {}, d out / d b = {}\n", out.data(), n.bias().grad());
    const bool ok =
        std::fabs(out.data() - expected) < 1e-15 && std::fabs(n.bias().grad() - (1 - expected * expected)) < 1e-15;
    return ok ? 0 : 1;
}
