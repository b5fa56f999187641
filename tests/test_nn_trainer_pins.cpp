// Exact results of the trainer and of both stratified splits for fixed seeds:
// the rows train_test_split and the trainer's validation split choose, and
// the losses and accuracies of short training runs, to the bit. They pin the
// order of the random draws and of the arithmetic, so a refactor that keeps
// behaviour keeps every figure here; a deliberate numeric change (another
// kernel, another shuffle) has to derive them again.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

using ag::Tensor;
using namespace ag::nn;

namespace {

// What EpochStats and Evaluation hold where there is no figure (accuracy for MSE).
constexpr double no_figure = std::numeric_limits<double>::quiet_NaN();

// 23 rows whose one feature is the row's index; classes of 12, 7 and 4 rows,
// so round(0.3 n_class) rounds up for one class and down for another.
Dataset indexed_rows() {
    Dataset d;
    d.n_features = 1;
    for (int i = 0; i < 23; ++i) {
        d.features.push_back(i);
        d.labels.push_back(i < 12 ? 0 : (i < 19 ? 1 : 2));
    }
    return d;
}

std::vector<std::int64_t> row_ids(const Dataset& part) {
    return std::vector<std::int64_t>(part.features.begin(), part.features.end());
}

std::vector<std::int64_t> sorted(std::vector<std::int64_t> v) {
    std::sort(v.begin(), v.end());
    return v;
}

// NaN (no accuracy for MSE) matches NaN; everything else must be equal.
void check_figures(const std::vector<double>& got, const std::vector<double>& expected) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        if (std::isnan(expected[i]))
            CHECK(std::isnan(got[i]));
        else
            CHECK(got[i] == expected[i]);
    }
}

// Per epoch loss, accuracy, val_loss, val_accuracy (one epoch a line in the
// expectations below), then an evaluation's loss and accuracy.
std::vector<double> figures(const History& h, const Evaluation& e) {
    std::vector<double> out;
    for (const EpochStats& s : h.epochs) out.insert(out.end(), {s.loss, s.accuracy, s.val_loss, s.val_accuracy});
    out.insert(out.end(), {e.loss, e.accuracy});
    return out;
}

TrainOptions options(Loss loss) {
    return {.epochs = 3, .batch_size = 7, .loss = loss, .validation_fraction = 0.25, .seed = 3, .progress = Progress::Off};
}

// A held-out split (fit with validation_fraction) of a 2-6-k tanh network,
// then an evaluation over every row.
template <class T>
std::vector<double> held_out_run(Loss loss, const Dataset& data, std::size_t outputs) {
    const BasicTensorMLP<T> model(2, {6, outputs}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 1});
    Adam opt(model.parameters(), {.lr = 0.05});
    const Trainer trainer(options(loss));
    const auto X = features_tensor<T>(data), y = labels_tensor<T>(data);
    const History h = trainer.fit(model, opt, X, y);
    return figures(h, trainer.evaluate(model, X, y));
}

}  // namespace

TEST_CASE("train_test_split picks exactly these rows for seed 11") {
    const Dataset d = indexed_rows();
    const auto [train, test] = train_test_split(d, 0.3, 11);
    CHECK(row_ids(test) == std::vector<std::int64_t>{11, 13, 22, 8, 2, 10, 16});
    CHECK(row_ids(train) == std::vector<std::int64_t>{9, 7, 14, 12, 5, 18, 4, 0, 6, 17, 19, 15, 3, 21, 20, 1});
    const auto [plain_train, plain_test] = train_test_split(d, 0.3, 11, /*stratify=*/false);
    CHECK(row_ids(plain_test) == std::vector<std::int64_t>{7, 0, 6, 11, 15, 17, 4});
    CHECK(row_ids(plain_train) == std::vector<std::int64_t>{22, 12, 9, 14, 19, 18, 21, 16, 10, 5, 8, 2, 3, 20, 13, 1});
}

TEST_CASE("The trainer's validation split picks exactly these rows for seed 11") {
    const Dataset d = indexed_rows();
    std::vector<std::int64_t> train, validation;
    detail::split_rows(d.size(), d.labels, Loss::CrossEntropy, 0.3, 11, train, validation);
    CHECK(validation == std::vector<std::int64_t>{11, 2, 10, 8, 16, 13, 22});
    CHECK(train == std::vector<std::int64_t>{7, 6, 4, 0, 1, 5, 9, 3, 14, 12, 15, 18, 17, 19, 21, 20});
    // The same rows held out as train_test_split's test part, which only
    // shuffles its parts afterwards.
    CHECK(sorted(validation) == sorted(row_ids(train_test_split(d, 0.3, 11).test)));
    // Regression: one group, whatever the targets.
    detail::split_rows(d.size(), d.labels, Loss::MSE, 0.3, 11, train, validation);
    CHECK(validation == std::vector<std::int64_t>{7, 6, 0, 11, 4, 17, 15});
    CHECK(train == std::vector<std::int64_t>{19, 5, 8, 3, 16, 10, 13, 12, 18, 2, 20, 22, 1, 14, 9, 21});
    // Targets that are not one per row cannot be stratified: one group too.
    const std::vector<double> two_per_row(2 * d.size(), 1.0);
    detail::split_rows(d.size(), two_per_row, Loss::BinaryCrossEntropy, 0.3, 11, train, validation);
    CHECK(validation == std::vector<std::int64_t>{7, 6, 0, 11, 4, 17, 15});
    CHECK(train == std::vector<std::int64_t>{19, 5, 8, 3, 16, 10, 13, 12, 18, 2, 20, 22, 1, 14, 9, 21});
    // No validation: every row in order.
    detail::split_rows(4, std::vector<double>{1, 0, 1, 0}, Loss::CrossEntropy, 0.0, 11, train, validation);
    CHECK(train == std::vector<std::int64_t>{0, 1, 2, 3});
    CHECK(validation.empty());
}

TEST_CASE("Trainer figures to the bit: cross-entropy, binary cross-entropy, hinge, mse, float32") {
    struct PinnedRun {
        const char* name;
        Loss loss;
        std::size_t outputs;
        bool float32;
        std::vector<double> expected;
    };
    const std::vector<PinnedRun> runs = {
        {"cross-entropy", Loss::CrossEntropy, 2, false,
         {0x1.b9a5b37a894bbp-2, 0x1.bbbbbbbbbbbbcp-1, 0x1.1905eefd206dap-1, 0x1.6666666666666p-1,
          0x1.4f9510608e2ffp-2, 0x1.ccccccccccccdp-1, 0x1.30d45100e8c05p-1, 0x1.6666666666666p-1,
          0x1.393a9e2b3ae96p-2, 0x1.ccccccccccccdp-1, 0x1.2f237f259210ap-1, 0x1.6666666666666p-1,
          0x1.80700044b24d8p-2, 0x1.b333333333333p-1}},
        {"binary cross-entropy", Loss::BinaryCrossEntropy, 1, false,
         {0x1.94cca0523cd5ep-1, 0x1.7777777777777p-2, 0x1.3a88bc8c1ea05p-1, 0x1.3333333333333p-1,
          0x1.f7dde51941b24p-2, 0x1.ccccccccccccdp-1, 0x1.1864414cd86ccp-1, 0x1.6666666666666p-1,
          0x1.881ca81ef88f1p-2, 0x1.ccccccccccccdp-1, 0x1.1357ee30e7f72p-1, 0x1.6666666666666p-1,
          0x1.8db28f1745f66p-2, 0x1.b333333333333p-1}},
        {"hinge", Loss::Hinge, 1, false,
         {0x1.278415dd281a4p+0, 0x1.7777777777777p-2, 0x1.9f0de5a6646e3p-1, 0x1.6666666666666p-1,
          0x1.f8e8a5b52c0bfp-2, 0x1.ccccccccccccdp-1, 0x1.3c63e58448162p-1, 0x1.6666666666666p-1,
          0x1.2f82414c921d1p-2, 0x1.ccccccccccccdp-1, 0x1.41f080c3c09d6p-1, 0x1.6666666666666p-1,
          0x1.7894d78e117eep-2, 0x1.b333333333333p-1}},
        {"cross-entropy, float32", Loss::CrossEntropy, 2, true,
         {0x1.b9a5b32222222p-2, 0x1.bbbbbbbbbbbbcp-1, 0x1.1905eep-1, 0x1.6666666666666p-1,
          0x1.4f95109111111p-2, 0x1.ccccccccccccdp-1, 0x1.30d452p-1, 0x1.6666666666666p-1,
          0x1.393a9e2cccccdp-2, 0x1.ccccccccccccdp-1, 0x1.2f237ep-1, 0x1.6666666666666p-1,
          0x1.807p-2, 0x1.b333333333333p-1}},
        {"mse, y [n] against an output [n, 1]", Loss::MSE, 1, false,
         {0x1.6e6dc7d28f803p-1, no_figure, 0x1.e14e0377b3e1bp-3, no_figure,
          0x1.8beb013a33895p-3, no_figure, 0x1.38f4c0b80634dp-2, no_figure,
          0x1.bfeb9de6cf0dap-3, no_figure, 0x1.2a992c28d7221p-3, no_figure,
          0x1.f4c700a605acep-4, no_figure}},
    };
    const Dataset moons = make_moons(40, 0.2, 5);
    Dataset signed_moons = moons;  // hinge's -1/+1 targets
    for (double& t : signed_moons.labels) t = 2 * t - 1;
    for (const PinnedRun& run : runs) {
        CAPTURE(run.name);
        const Dataset& data = run.loss == Loss::Hinge ? signed_moons : moons;
        check_figures(run.float32 ? held_out_run<float>(run.loss, data, run.outputs)
                                  : held_out_run<double>(run.loss, data, run.outputs),
                      run.expected);
    }
}

TEST_CASE("Trainer figures to the bit: mse on two target columns with explicit validation data") {
    std::vector<double> xs, ys;
    for (int i = 0; i < 10; ++i) {
        xs.insert(xs.end(), {0.1 * i, -0.2 * i + 0.5});
        ys.insert(ys.end(), {0.05 * i, std::sin(0.3 * i)});
    }
    const Tensor X = Tensor({10, 2}, xs).set_requires_grad(false), y = Tensor({10, 2}, ys).set_requires_grad(false);
    const Tensor X_val = Tensor({4, 2}, std::vector<double>(xs.begin() + 4, xs.begin() + 12)).set_requires_grad(false);
    const Tensor y_val = Tensor({4, 2}, std::vector<double>(ys.begin() + 4, ys.begin() + 12)).set_requires_grad(false);
    const TensorMLP model(2, {5, 2}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 4});
    Adam opt(model.parameters(), {.lr = 0.05});
    const Trainer trainer(options(Loss::MSE));
    const History h = trainer.fit(model, opt, X, y, X_val, y_val);
    check_figures(figures(h, trainer.evaluate(model, X_val, y_val)),
                  {0x1.94cc3ab6dba1dp-3, no_figure, 0x1.9357367bb71e9p-6, no_figure,
                   0x1.0ab118a310482p-5, no_figure, 0x1.4721116e4d5b2p-5, no_figure,
                   0x1.987c9b64a3ec2p-4, no_figure, 0x1.1984d41765dep-6, no_figure,
                   0x1.1984d41765dep-6, no_figure});
}
