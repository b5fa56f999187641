// The Trainer's custom loss, predict / predict_classes, gradient clipping
// and a schedule that watches the loss (ReduceLROnPlateau), each against a
// computation by hand.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using ag::Tensor;
using namespace ag::nn;

namespace {
TrainOptions quiet(TrainOptions o) {
    o.progress = Progress::Off;
    return o;
}
Tensor column(std::vector<double> v) {
    const auto n = static_cast<std::int64_t>(v.size());
    return Tensor(ag::Shape{n}, std::span<const double>(v)).set_requires_grad(false);
}
}  // namespace

TEST_CASE("Trainer: a custom loss (mean absolute error) takes the step computed by hand") {
    // h = w·x + b with w = 0.5, b = 0; x = 1, 2, 3; y = 1, 0.5, 1: h − y = −0.5, 0.5, 0.5.
    // L = mean|h − y| = 0.5; dL/dw = mean(sign(h − y)·x) = (−1 + 2 + 3)/3 = 4/3; dL/db = (−1 + 1 + 1)/3 = 1/3.
    // SGD lr 0.3: w = 0.5 − 0.4 = 0.1, b = −0.1.
    const Linear model({{0.5}}, {0.0});
    SGD opt(model.parameters(), 0.3);
    const Tensor X = Tensor(ag::Shape{3, 1}, {1.0, 2.0, 3.0}).set_requires_grad(false);
    const Tensor y = column({1.0, 0.5, 1.0});
    const Trainer trainer(quiet({.epochs = 1, .batch_size = 0, .loss_fn = [](const auto& pred, const auto& target) {
                                     return ag::mean(ag::abs(pred - target));
                                 }}));
    const History h = trainer.fit(model, opt, X, y);
    REQUIRE(h.epochs.size() == 1);
    CHECK(h.epochs[0].loss == doctest::Approx(0.5).epsilon(1e-15));
    CHECK(std::isnan(h.epochs[0].accuracy));  // no accuracy for a custom loss
    CHECK(model.weight().data()[0] == doctest::Approx(0.1).epsilon(1e-14));
    CHECK(model.bias().data()[0] == doctest::Approx(-0.1).epsilon(1e-14));
    // evaluate uses it too: after the step h = 0.0, 0.1, 0.2: |h − y| = 1, 0.4, 0.8, mean 2.2/3.
    CHECK(trainer.evaluate(model, X, y).loss == doctest::Approx(2.2 / 3).epsilon(1e-14));
}

TEST_CASE("Trainer: a custom loss equal to MSE gives MSE's history") {
    const Dataset data = make_moons(60, 0.1, 3);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    auto run = [&](TrainOptions o) {
        const TensorMLP model(2, {8, 1}, {.hidden = Activation::Tanh, .seed = 4});
        Adam opt(model.parameters(), {.lr = 0.01});
        o.epochs = 4;
        o.batch_size = 8;
        o.validation_fraction = 0.2;
        o.seed = 9;
        return Trainer(quiet(o)).fit(model, opt, X, y);
    };
    const History mse = run({.loss = Loss::MSE});
    const History custom =
        run({.loss_fn = [](const Tensor& p, const Tensor& t) { return ag::mean((p - t) * (p - t)); }});
    REQUIRE(custom.epochs.size() == 4);
    for (std::size_t e = 0; e < 4; ++e) {
        CAPTURE(e);
        CHECK(custom.epochs[e].loss == doctest::Approx(mse.epochs[e].loss).epsilon(1e-12));
        CHECK(custom.epochs[e].val_loss == doctest::Approx(mse.epochs[e].val_loss).epsilon(1e-12));
    }
}

TEST_CASE("Trainer: custom loss errors name the problem") {
    const Linear model({{0.5}}, {0.0});
    SGD opt(model.parameters(), 0.1);
    const Tensor X = Tensor(ag::Shape{2, 1}, {1.0, 2.0}).set_requires_grad(false);
    const Tensor y = column({1.0, 2.0});
    const Trainer f32_only(
        quiet({.epochs = 1, .loss_fn = [](const ag::Tensor32& p, const ag::Tensor32&) { return ag::sum(p); }}));
    CHECK_THROWS_WITH_AS(
        f32_only.fit(model, opt, X, y),
        "Trainer: the custom loss (TrainOptions::loss_fn) takes only float32 tensors, and this model's "
        "are float64",
        std::invalid_argument);
    const Trainer not_scalar(quiet({.epochs = 1, .loss_fn = [](const auto& p, const auto& t) { return p - t; }}));
    CHECK_THROWS_WITH_AS(not_scalar.fit(model, opt, X, y),
                         "Trainer: the custom loss (TrainOptions::loss_fn) gave a tensor of shape [2, 1]; it must give "
                         "one number (a mean or a sum)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(not_scalar.predict_classes(model, X),
                         "Trainer::predict_classes: the trainer's loss is a custom one, which has no classes "
                         "(CrossEntropy, BinaryCrossEntropy and Hinge have)",
                         std::invalid_argument);
}

TEST_CASE("Trainer::predict and predict_classes: the model's outputs in batches, classes by the loss's rule") {
    const Dataset data = make_spirals(1500, 0.1, 5, 3);  // more rows than one prediction batch (1024)
    const Tensor X = features_tensor(data);
    const TensorMLP model(2, {8, 3}, {.seed = 2});
    const Trainer trainer(quiet({.loss = Loss::CrossEntropy}));
    const Tensor p = trainer.predict(model, X);
    REQUIRE(p.shape() == ag::Shape(1500, 3));
    CHECK_FALSE(p.requires_grad());
    std::vector<double> direct;
    {
        ag::NoGrad no_grad;
        ag::Scope scope;
        const Tensor all = model(X);
        direct.assign(all.data().begin(), all.data().end());
    }
    for (std::size_t i = 0; i < direct.size(); ++i) REQUIRE(p.data()[i] == doctest::Approx(direct[i]).epsilon(1e-12));
    const std::vector<std::int64_t> classes = trainer.predict_classes(model, X);
    REQUIRE(classes.size() == 1500);
    for (std::size_t i = 0; i < 1500; ++i) {
        const double* row = p.data().data() + 3 * i;
        std::int64_t best = 0;
        for (std::int64_t c = 1; c < 3; ++c)
            if (row[c] > row[best]) best = c;
        REQUIRE(classes[i] == best);
    }

    // One output: logit > 0 → 1 (binary cross-entropy), score > 0 → +1 else −1 (hinge).
    const Linear line({{1.0}}, {0.0});
    const Tensor x = Tensor(ag::Shape{3, 1}, {-2.0, 0.5, 0.0}).set_requires_grad(false);
    CHECK(Trainer(quiet({.loss = Loss::BinaryCrossEntropy})).predict_classes(line, x) ==
          std::vector<std::int64_t>{0, 1, 0});
    CHECK(Trainer(quiet({.loss = Loss::Hinge})).predict_classes(line, x) == std::vector<std::int64_t>{-1, 1, -1});
    CHECK_THROWS_WITH_AS(Trainer(quiet({.loss = Loss::MSE})).predict_classes(line, x),
                         "Trainer::predict_classes: the trainer's loss is mse, which has no classes (CrossEntropy, "
                         "BinaryCrossEntropy and Hinge have)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Trainer(quiet({.loss = Loss::Hinge})).predict_classes(model, X),
                         "Trainer::predict_classes: the model gives [1500, 3]; hinge classes need one output per row",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(trainer.predict(model, Tensor(ag::Shape{2}, {1.0, 2.0})),
                         "Trainer::predict: X is [2]; expected [rows, features] with at least one row",
                         std::invalid_argument);
}

TEST_CASE("Trainer: gradient clipping by norm, against the step by hand") {
    // h = w₀x₀ + w₁x₁ + b from 0; x = (1, 0), y = 10: MSE (h − y)² = 100, dL/dh = −20:
    // gradients w (−20, 0), b −20, norm √800. Clipped to 1: each × 1/(√800 + 1e-6); SGD lr 1.
    const Tensor X = Tensor(ag::Shape{1, 2}, {1.0, 0.0}).set_requires_grad(false);
    const Tensor y = column({10.0});
    const Linear model({{0.0}, {0.0}}, {0.0});
    SGD opt(model.parameters(), 1.0);
    Trainer(quiet({.epochs = 1, .loss = Loss::MSE, .clip_grad_norm = 1.0})).fit(model, opt, X, y);
    const double c = 1.0 / (std::sqrt(800.0) + 1e-6);
    CHECK(model.weight().data()[0] == doctest::Approx(20.0 * c).epsilon(1e-15));
    CHECK(model.weight().data()[1] == 0.0);
    CHECK(model.bias().data()[0] == doctest::Approx(20.0 * c).epsilon(1e-15));
    // Without clipping: the full step, 20.
    const Linear free({{0.0}, {0.0}}, {0.0});
    SGD opt2(free.parameters(), 1.0);
    Trainer(quiet({.epochs = 1, .loss = Loss::MSE})).fit(free, opt2, X, y);
    CHECK(free.bias().data()[0] == 20.0);
    CHECK_THROWS_WITH_AS(Trainer(quiet({.loss = Loss::MSE, .clip_grad_norm = -1.0})).fit(free, opt2, X, y),
                         "Trainer::fit: clip_grad_norm is -1; it must be a finite number > 0, or 0 for no clipping",
                         std::invalid_argument);
}

TEST_CASE("Trainer: ReduceLROnPlateau watches the validation loss, else the training loss") {
    const Dataset data = make_moons(40, 0.1, 1);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    const TensorMLP model(2, {4, 2}, {.seed = 1});
    // A rate too small to move the loss by the relative threshold 1e-4: every epoch after the first is bad.
    SGD opt(model.parameters(), 1e-6);
    ReduceLROnPlateau plateau(opt, {.factor = 0.5, .patience = 1});
    const History h =
        Trainer(quiet({.epochs = 5, .validation_fraction = 0.25, .schedule = &plateau})).fit(model, opt, X, y);
    REQUIRE(h.epochs.size() == 5);
    // epoch 1 best; 2 bad 1; 3 bad 2 > 1: halved for epoch 4; 4 bad 1; 5 bad 2: halved after.
    CHECK(h.epochs[2].lr == 1e-6);
    CHECK(h.epochs[3].lr == 0.5e-6);
    CHECK(h.epochs[4].lr == 0.5e-6);
    CHECK(opt.lr() == 0.25e-6);
    CHECK(plateau.best() == h.epochs[0].val_loss);
}
