// Optimizer state and checkpoints (nn/optim.hpp state/load_state,
// nn/checkpoint.hpp): training resumed from a checkpoint ends with the same
// bits as training never interrupted.
#include "tests/scratch_dir.hpp"

#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <limits>
#include <memory>

using namespace ag::nn;

namespace {

std::vector<double> values_of(const std::vector<NamedParameter>& ps) {
    std::vector<double> v;
    for (const NamedParameter& p : ps)
        for (double x : p.values()) v.push_back(x);
    return v;
}

// One step of a fixed loss on `model` with `opt`.
void step(const TensorMLP& model, Optimizer& opt, const ag::Tensor& X, const ag::Tensor& y) {
    ag::Scope scope;
    const std::vector<std::int64_t> labels(y.data().begin(), y.data().end());
    opt.zero_grad();
    ag::cross_entropy(model(X), std::span<const std::int64_t>(labels)).backward();
    opt.step();
}

// 0 SGD, 1 Adam, 2 AdamW, 3 RMSprop (centered, with momentum: every buffer in use)
std::unique_ptr<Optimizer> make(int kind, const TensorMLP& model) {
    if (kind == 1) return std::make_unique<Adam>(model.parameters(), AdamOptions{.lr = 0.01, .weight_decay = 1e-3});
    if (kind == 2) return std::make_unique<AdamW>(model.parameters(), AdamWOptions{.lr = 0.01});
    if (kind == 3)
        return std::make_unique<RMSprop>(model.parameters(),
                                         RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true});
    return std::make_unique<SGD>(model.parameters(), SGDOptions{.lr = 0.05, .momentum = 0.9, .nesterov = true});
}

}  // namespace

TEST_CASE("Optimizer state: a new optimizer given the state takes the same next steps, bit for bit") {
    const Dataset data = make_moons(40, 0.1, 2);
    const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
    for (int adam : {0, 1, 2, 3}) {
        CAPTURE(adam);
        const TensorMLP a(2, {6, 2}, {.seed = 3}), b(2, {6, 2}, {.seed = 3});
        auto opt_a = make(adam, a);
        auto opt_b = make(adam, b);
        for (int k = 0; k < 3; ++k) step(a, *opt_a, X, y);
        // b: a's parameters and state, as a resumed process would have them.
        const std::vector<NamedParameter> pa = a.named_parameters(), pb = b.named_parameters();
        for (std::size_t i = 0; i < pa.size(); ++i) pb[i].set_values(pa[i].values());
        opt_b->load_state(opt_a->state());
        CHECK(opt_b->steps() == 3);
        for (int k = 0; k < 3; ++k) {
            step(a, *opt_a, X, y);
            step(b, *opt_b, X, y);
        }
        CHECK(values_of(a.named_parameters()) == values_of(b.named_parameters()));
        // Without the state (moments from zero, step count 0) the steps differ.
        const TensorMLP c(2, {6, 2}, {.seed = 3});
        auto opt_c = make(adam, c);
        for (std::size_t i = 0; i < pa.size(); ++i) c.named_parameters()[i].set_values(pb[i].values());
        step(b, *opt_b, X, y);
        step(c, *opt_c, X, y);
        CHECK(values_of(b.named_parameters()) != values_of(c.named_parameters()));
    }
}

TEST_CASE("Optimizer::load_state: another kind, other sizes or bad hyperparameters are errors, and change nothing") {
    const TensorMLP m(2, {4, 2}, {.seed = 1}), other(2, {5, 2}, {.seed = 1});
    Adam adam(m.parameters(), {.lr = 0.01});
    SGD sgd(m.parameters(), 0.1);
    CHECK_THROWS_WITH_AS(adam.load_state(sgd.state()),
                         "Optimizer::load_state: the state is SGD's, this optimizer is Adam", std::invalid_argument);
    CHECK_THROWS_WITH_AS(adam.load_state(Adam(other.parameters()).state()),
                         "Optimizer::load_state: the state is for parameter blocks of sizes [10, 5, 10, 2], this "
                         "optimizer has [8, 4, 8, 2]",
                         std::invalid_argument);
    OptimizerState bad = Adam(m.parameters(), {.lr = 0.5}).state();
    for (auto& [name, value] : bad.scalars)
        if (name == "beta1") value = 1.0;
    CHECK_THROWS_WITH_AS(adam.load_state(bad),
                         "Adam::load_state: betas must be in [0, 1), got beta1 = 1, beta2 = 0.999",
                         std::invalid_argument);
    CHECK(adam.lr() == 0.01);  // unchanged
    CHECK(adam.options().beta1 == 0.9);
}

namespace {
struct Trained {
    std::vector<double> parameters;
    History history;
    double lr = 0;
};
// `epochs` epochs of Adam with a cosine schedule, a validation split and
// shuffling, with fresh objects; from `checkpoint` when resume is set.
Trained train(std::size_t epochs, const std::filesystem::path& checkpoint = {}, bool resume = false) {
    const Dataset data = make_spirals(150, 0.2, 9, 3);
    const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
    const TensorMLP model(2, {12, 3}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 4});
    Adam adam(model.parameters(), {.lr = 0.02});
    CosineLR schedule(adam, {.t_max = 6});
    const Trainer trainer({.epochs = epochs,
                           .batch_size = 16,
                           .validation_fraction = 0.2,
                           .seed = 8,
                           .schedule = &schedule,
                           .progress = Progress::Off,
                           .checkpoint = checkpoint,
                           .checkpoint_every = 2,
                           .resume = resume});
    Trained t;
    t.history = trainer.fit(model, adam, X, y);
    t.parameters = values_of(model.named_parameters());
    t.lr = adam.lr();
    return t;
}
}  // namespace

TEST_CASE("Trainer: resumed from a checkpoint, training ends with the same bits as uninterrupted") {
    const Trained whole = train(6);
    const auto path = scratch_path("run.ckpt");
    const Trained first = train(4, path);       // checkpoints after epochs 2 and 4
    const Trained rest = train(6, path, true);  // fresh model and optimizer, from epoch 5
    CHECK(rest.parameters == whole.parameters);
    CHECK(rest.lr == whole.lr);
    REQUIRE(rest.history.epochs.size() == 2);
    CHECK(rest.history.epochs[0].epoch == 5);
    CHECK(rest.history.epochs[0].loss == whole.history.epochs[4].loss);
    CHECK(rest.history.epochs[1].val_loss == whole.history.epochs[5].val_loss);
    CHECK(first.parameters != whole.parameters);
    // resume with no file yet: a fresh start, the same as without resume.
    const Trained fresh = train(6, scratch_path("none_yet.ckpt"), true);
    CHECK(fresh.parameters == whole.parameters);
    // A finished run resumed trains no more.
    const Trained again = train(6, scratch_path("none_yet.ckpt"), true);
    CHECK(again.history.epochs.empty());
    CHECK(again.parameters == whole.parameters);
}

TEST_CASE("Checkpoints: what each wrong use says, and the model is unchanged") {
    const TensorMLP model(2, {4, 2}, {.seed = 1});
    Adam adam(model.parameters(), {.lr = 0.01});
    StepLR schedule(adam, {.step_size = 2, .gamma = 0.5});
    const auto path = scratch_path("model.ckpt");
    save_checkpoint(model, adam, 3, &schedule, path);

    const TensorMLP other(2, {4, 2}, {.seed = 2});
    const std::vector<double> before = values_of(other.named_parameters());
    // A plain load() of a checkpoint.
    CHECK_THROWS_WITH_AS(load(other, path),
                         doctest::Contains("longer than any of the model's (training state of a checkpoint: "
                                           "load_checkpoint reads it, given an optimizer of the kind named and a "
                                           "schedule when the file has one)"),
                         LoadError);
    // Another optimizer kind.
    SGD sgd(other.parameters(), 0.1);
    CHECK_THROWS_WITH_AS(load_checkpoint(other, sgd, nullptr, path),
                         doctest::Contains("the file's parameter '@optimizer.Adam.lr' [] is not in the model (training "
                                           "state of a checkpoint"),
                         LoadError);
    // A model file is no checkpoint.
    save(model, scratch_path("model.tgp"));
    Adam adam2(other.parameters(), {.lr = 0.01});
    CHECK_THROWS_WITH_AS(load_checkpoint(other, adam2, nullptr, scratch_path("model.tgp")),
                         doctest::Contains("the model's parameter '@optimizer.Adam.lr' [] is not in the file"),
                         LoadError);
    CHECK(values_of(other.named_parameters()) == before);

    // The right one: model, optimizer, schedule and epochs.
    StepLR schedule2(adam2, {.step_size = 2, .gamma = 0.5});
    CHECK(load_checkpoint(other, adam2, &schedule2, path) == 3);
    CHECK(values_of(other.named_parameters()) == values_of(model.named_parameters()));
    CHECK(schedule2.epoch() == 0);
    CHECK(adam2.steps() == 0);
    // '@' marks training state: a model parameter may not use it.
    const ag::Tensor w({1}, {1.0});
    CHECK_THROWS_WITH_AS(save_checkpoint(std::vector<NamedParameter>{NamedParameter("@w", w)}, adam, 0, nullptr, path),
                         doctest::Contains("the model's parameter '@w' starts with '@'"), std::invalid_argument);
}

TEST_CASE("Checkpoints keep ReduceLROnPlateau's state: best, bad epochs, cooldown") {
    const TensorMLP model(2, {3, 2}, {.seed = 1});
    RMSprop opt(model.parameters(), {.lr = 0.1});
    ReduceLROnPlateau plateau(opt, {.factor = 0.5, .patience = 1, .cooldown = 3});
    for (double metric : {5.0, 4.0, 4.0, 4.0}) plateau.step(metric);  // reduced at the 4th: lr 0.05, cooldown 3
    plateau.step(4.0);                                                // cooldown 2
    REQUIRE(opt.lr() == 0.05);
    const auto path = scratch_path("plateau.ckpt");
    save_checkpoint(model, opt, 5, &plateau, path);

    RMSprop opt2(model.parameters(), {.lr = 0.1});
    ReduceLROnPlateau fresh(opt2, {.factor = 0.5, .patience = 1, .cooldown = 3});
    CHECK(load_checkpoint(model, opt2, &fresh, path) == 5);
    CHECK(opt2.lr() == 0.05);
    CHECK(fresh.best() == 4.0);
    CHECK(fresh.epoch() == 5);
    // Both continue alike: two more cooldown epochs, then two bad ones reduce again.
    for (double metric : {4.0, 4.0, 4.0, 4.0}) {
        plateau.step(metric);
        fresh.step(metric);
        CHECK(opt2.lr() == opt.lr());
    }
    CHECK(opt.lr() == 0.025);
    // Without the schedule's state (a fresh plateau), the first bad epochs would come sooner.
    ReduceLROnPlateau other(opt2, {.factor = 0.5, .patience = 1, .cooldown = 3});
    CHECK(other.best() == std::numeric_limits<double>::infinity());
}
