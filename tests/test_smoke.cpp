#include <autograd/autograd.hpp>
#include <doctest/doctest.h>
TEST_CASE("smoke") {
    ag::Value x = -2.0, y = 5.0, z = -4.0;
    ag::Value f = (x + y) * z;
    f.backward();
    CHECK(f.data() == -12);
    CHECK(x.grad() == -4);
    CHECK(y.grad() == -4);
    CHECK(z.grad() == 3);
}
