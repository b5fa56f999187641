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
    CHECK(r.accuracy[0] < 0.9);      // an untrained net does not already separate the moons
    CHECK(r.final_accuracy == 1.0);  // the figure
    CHECK(r.first_perfect_step >= 0);
    CHECK(r.accuracy.back() == 1.0);
    CHECK(r.final_loss < 0.05 * r.loss[0]);
    CHECK(r.grid_scores.size() == 16);
}

#include "examples/classify.hpp"

#include <cmath>
#include <numeric>
#include <string>

namespace {
const std::string data_dir = std::string(TAPEGRAD_SOURCE_DIR) + "/examples/data";

std::size_t total(const std::vector<std::vector<std::size_t>>& m) {
    std::size_t n = 0;
    for (const auto& row : m) n = std::accumulate(row.begin(), row.end(), n);
    return n;
}

// Each class keeps its share in the test part (stratified split).
void check_stratified(const examples::ClassifierFigures& r) {
    for (std::size_t c = 0; c < r.classes; ++c) {
        const double n = static_cast<double>(r.train_per_class[c] + r.test_per_class[c]);
        CHECK(std::fabs(static_cast<double>(r.test_per_class[c]) - r.setup.test_fraction * n) <= 0.5);
    }
}
}  // namespace

TEST_CASE("example 6: handwritten digits, tensor MLP 64-128-10 with Adam: >= 97% test accuracy") {
    const auto r = examples::train_classifier(examples::digits_setup(data_dir));
    CHECK(r.rows == 1797);
    CHECK(r.features == 64);
    CHECK(r.classes == 10);
    CHECK(r.train_rows + r.test_rows == 1797);
    CHECK(r.test_rows == 451);  // per class round(0.25 n_c)
    check_stratified(r);
    CHECK(r.parameters == 64 * 128 + 128 + 128 * 10 + 10);
    REQUIRE(r.history.epochs.size() == r.setup.epochs);
    CHECK(r.history.epochs.back().loss < 0.1 * r.history.epochs.front().loss);
    CHECK(r.test_accuracy >= 0.97);  // the figure
    // The confusion matrix counts every test row once and its diagonal gives
    // the trainer's accuracy.
    CHECK(total(r.confusion) == r.test_rows);
    CHECK(examples::confusion_accuracy(r.confusion) == doctest::Approx(r.test_accuracy).epsilon(1e-12));
    for (std::size_t c = 0; c < r.classes; ++c) {
        const auto& row = r.confusion[c];
        CHECK(std::accumulate(row.begin(), row.end(), std::size_t{0}) == r.test_per_class[c]);
    }
    // The last epoch's test figures are the final evaluation's.
    CHECK(r.history.epochs.back().val_accuracy == doctest::Approx(r.test_accuracy).epsilon(1e-12));
}

TEST_CASE("example 7: iris, >= 95% test accuracy (mean over 10 stratified splits)") {
    const auto setup = examples::iris_setup(data_dir);
    const auto one = examples::train_classifier(setup);
    CHECK(one.rows == 150);
    CHECK(one.classes == 3);
    CHECK(one.test_rows == 39);
    check_stratified(one);
    CHECK(total(one.confusion) == 39);
    CHECK(examples::confusion_accuracy(one.confusion) == doctest::Approx(one.test_accuracy).epsilon(1e-12));
    const auto splits = examples::repeated_splits(setup, 10);
    CHECK(splits.test_accuracy.size() == 10);
    CHECK(splits.test_accuracy.front() == one.test_accuracy);  // seed 1 is the single run
    CHECK(splits.mean >= 0.95);
}

TEST_CASE("example 7: wine, >= 95% test accuracy (one split and the mean over 10)") {
    const auto setup = examples::wine_setup(data_dir);
    const auto one = examples::train_classifier(setup);
    CHECK(one.rows == 178);
    CHECK(one.features == 13);
    CHECK(one.classes == 3);
    check_stratified(one);
    CHECK(one.test_accuracy >= 0.95);
    CHECK(examples::confusion_accuracy(one.confusion) == doctest::Approx(one.test_accuracy).epsilon(1e-12));
    const auto splits = examples::repeated_splits(setup, 10);
    CHECK(splits.mean >= 0.95);
    CHECK(splits.min <= splits.mean);
    CHECK(splits.max >= splits.mean);
}

TEST_CASE("examples 6-7: a missing or malformed data file is a clear error") {
    auto setup = examples::iris_setup(data_dir);
    setup.path = data_dir + "/no-such-file.csv";
    CHECK_THROWS_WITH_AS(examples::train_classifier(setup), doctest::Contains("no-such-file.csv"), std::runtime_error);
    setup.path = data_dir + "/no-such-file.csv.gz";
    CHECK_THROWS_WITH_AS(examples::train_classifier(setup), doctest::Contains("no-such-file.csv.gz"),
                         std::runtime_error);
    // A file whose rows are not numbers names the file and the line.
    setup.path = data_dir + "/README.md";
    CHECK_THROWS_WITH_AS(examples::train_classifier(setup), doctest::Contains("README.md: line 3"),
                         std::invalid_argument);
}

TEST_CASE("examples 6-7: the sklearn header line is skipped, the rows kept") {
    const auto wine = ag::nn::read_csv(data_dir + "/wine_data.csv");
    CHECK(wine.size() == 178);
    CHECK(wine.n_features == 13);
    CHECK(wine.feature(0, 0) == doctest::Approx(14.23));
    CHECK(wine.labels.front() == 0);
    CHECK(wine.labels.back() == 2);
    const auto digits = ag::nn::read_csv(data_dir + "/digits.csv.gz");
    CHECK(digits.size() == 1797);
    CHECK(digits.n_features == 64);
}
