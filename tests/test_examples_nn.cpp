// The figures of examples 5-7 (on the nn module): fixed seeds, thresholds
// from the issue. Training sizes are the examples' own; only the pictures'
// grid is left out to keep the test quick.
#include "examples/moons.hpp"

#include <doctest/doctest.h>

#include <algorithm>

TEST_CASE("example 5: micrograd's moons demo reaches 100% training accuracy") {
    examples::MoonsSetup setup;
    setup.grid = 4;
    const auto r = examples::moons_example(setup);
    CHECK(r.data.size() == 100);
    CHECK(r.data.n_features == 2);
    CHECK(std::count(r.data.labels.begin(), r.data.labels.end(), 1.0) == 50);
    CHECK(r.parameters == 337);  // 2*16+16 + 16*16+16 + 16+1
    REQUIRE(r.loss.size() == 100);
    REQUIRE(r.accuracy.size() == 100);
    CHECK(r.accuracy[0] < 0.9);         // an untrained net does not already separate the moons
    CHECK(r.final_accuracy == 1.0);     // the figure
    CHECK(r.first_perfect_step >= 0);
    CHECK(r.accuracy.back() == 1.0);
    CHECK(r.final_loss < 0.05 * r.loss[0]);
    CHECK(r.grid_scores.size() == 16);
}
