// Linked against tapegrad::autograd only. Exits 0 only if a scalar and a
// tensor computation give their hand-derived values and gradients.
#include <autograd/autograd.hpp>

#include <fmt/format.h>

int main() {
    ag::Value x = -2.0, y = 5.0, z = -4.0;
    ag::Value f = (x + y) * z;
    f.backward();
    // d/dw sum(x @ w) for x = [[1, 2]] is x's row as a column: [[1], [2]];
    // matmul goes through OpenBLAS.
    ag::Tensor a({1, 2}, {1, 2});
    ag::Tensor w({2, 1}, {3, 4});
    ag::Tensor s = ag::sum(ag::matmul(a, w));
    s.backward();
    fmt::print("f = {}, x.grad = {}, sum(a @ w) = {}, w.grad = [{}, {}]\n", f.data(), x.grad(), s.data()[0],
               w.grad()[0], w.grad()[1]);
    const bool ok = f.data() == -12 && x.grad() == -4 && y.grad() == -4 && z.grad() == 3 && s.data()[0] == 11 &&
                    w.grad()[0] == 1 && w.grad()[1] == 2;
    return ok ? 0 : 1;
}
