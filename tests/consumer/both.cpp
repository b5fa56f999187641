// Linked against tapegrad::autograd and tapegrad::nn both. Exits 0 only if
// f = (x + y) * z and its partials at (-2, 5, -4) are right.
#include <autograd/autograd.hpp>
#include <nn/nn.hpp>

#include <fmt/format.h>

int main() {
    ag::Value x = -2.0, y = 5.0, z = -4.0;
    ag::Value f = (x + y) * z;
    f.backward();
    fmt::print("f = {}, df/dx = {}, df/dy = {}, df/dz = {}\n", f.data(), x.grad(), y.grad(), z.grad());
    const bool ok = f.data() == -12 && x.grad() == -4 && y.grad() == -4 && z.grad() == 3;
    return ok ? 0 : 1;
}
