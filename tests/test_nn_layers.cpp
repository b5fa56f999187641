// Dropout, LayerNorm, Embedding (nn/layers.hpp) and the module interface of
// Sequential (nn/module.hpp): forwards against hand formulas, gradients
// against central differences and hand-derived formulas, Dropout's seeded
// masks and modes, errors naming the values.
#include "tests/scratch_dir.hpp"

#include <nn/nn.hpp>

#include <autograd/tensor_gradcheck.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

using ag::Tensor;
using namespace ag::nn;

namespace {
// The mask Dropout(p, seed) draws for n elements: an element is dropped
// when its uniform draw is < p, the others scaled by 1 / (1 − p).
std::vector<double> expected_mask(double p, std::uint64_t seed, std::size_t n, std::size_t skip = 0) {
    ag::Rng rng(seed);
    for (std::size_t k = 0; k < skip; ++k) (void)rng.uniform();
    std::vector<double> mask(n);
    for (double& m : mask) m = rng.uniform() < p ? 0.0 : 1.0 / (1.0 - p);
    return mask;
}
}  // namespace

TEST_CASE("Dropout: seeded inverted masks, their gradient, reproducible") {
    const Dropout dropout(0.3, 7);
    CHECK(dropout.is_training());  // the default, as torch.nn.Module
    const Tensor x = Tensor::rand({4, 5}, 1, -1.0, 1.0);
    const std::vector<double> mask = expected_mask(0.3, 7, 20);
    std::size_t dropped = 0;
    for (double m : mask) dropped += m == 0.0 ? 1 : 0;
    REQUIRE(dropped > 0);  // the check below must see both kinds
    REQUIRE(dropped < 20);
    ag::Scope scope;
    const Tensor y = dropout(x);
    REQUIRE(y.shape() == x.shape());
    for (std::size_t k = 0; k < 20; ++k) {
        CAPTURE(k);
        CHECK(y.data()[k] == x.data()[k] * mask[k]);  // x · 1/(1 − p) or 0
    }
    // d sum(y · w) / dx = mask · w
    const Tensor w = Tensor::rand({4, 5}, 2, 0.5, 1.5).set_requires_grad(false);
    x.zero_grad();
    ag::sum(y * w).backward();
    for (std::size_t k = 0; k < 20; ++k) CHECK(x.grad()[k] == mask[k] * w.data()[k]);
    // The next call draws the next 20 numbers of the same stream; a copy shares the stream.
    const Dropout copy = dropout;
    const Tensor y2 = copy(x);
    const std::vector<double> mask2 = expected_mask(0.3, 7, 20, 20);
    for (std::size_t k = 0; k < 20; ++k) CHECK(y2.data()[k] == x.data()[k] * mask2[k]);
    // The same seed again: the same masks.
    const Dropout again(0.3, 7);
    const Tensor y3 = again(x);
    for (std::size_t k = 0; k < 20; ++k) CHECK(y3.data()[k] == y.data()[k]);
    // float32: the same mask, in float.
    const ag::Tensor32 x32 = ag::Tensor32::ones({20});
    const ag::Tensor32 y32 = Dropout(0.3, 7)(x32);
    for (std::size_t k = 0; k < 20; ++k) CHECK(y32.data()[k] == static_cast<float>(mask[k]));
}

TEST_CASE("Dropout: evaluation mode, p = 0 and p = 1, NoGrad, errors") {
    const Tensor x = Tensor::rand({3, 4}, 3, -1.0, 1.0);
    ag::Scope scope;
    Dropout d(0.5, 1);
    d.eval();
    CHECK_FALSE(d.is_training());
    const Tensor e = d(x);
    for (std::size_t k = 0; k < 12; ++k) CHECK(e.data()[k] == x.data()[k]);
    d.train();
    CHECK(d.is_training());
    const Tensor none = Dropout(0.0, 1)(x);
    for (std::size_t k = 0; k < 12; ++k) CHECK(none.data()[k] == x.data()[k]);
    const Tensor all = Dropout(1.0, 1)(x);
    for (std::size_t k = 0; k < 12; ++k) CHECK(all.data()[k] == 0.0);
    {
        // Training mode drops under NoGrad too (as torch.no_grad()): the mode is the module's.
        ag::NoGrad no_grad;
        const Tensor y = Dropout(0.5, 1)(x);
        const std::vector<double> mask = expected_mask(0.5, 1, 12);
        for (std::size_t k = 0; k < 12; ++k) CHECK(y.data()[k] == x.data()[k] * mask[k]);
    }
    // Inverted scaling keeps the mean: over 100000 ones the mean of the output is 1 within 1%.
    const Tensor ones = Tensor::ones({100000});
    CHECK(ag::mean(Dropout(0.25, 11)(ones)).item() == doctest::Approx(1.0).epsilon(0.01));
    CHECK_THROWS_WITH_AS(Dropout(1.5), "Dropout: p must be in [0, 1], got 1.5", std::invalid_argument);
    CHECK_THROWS_WITH_AS(Dropout(-0.1), "Dropout: p must be in [0, 1], got -0.1", std::invalid_argument);
    CHECK(fmt::format("{}", Dropout(0.25)) == "Dropout(p=0.25)");
}

TEST_CASE("LayerNorm: forward by hand, gradients against central differences and the hand formula") {
    // Row (1, 2, 3): mean 2, biased variance 2/3; row (2, 4, 12): mean 6, variance (16 + 4 + 36)/3 = 56/3.
    const LayerNorm plain(3, {.elementwise_affine = false});
    CHECK(plain.named_parameters().empty());
    ag::Scope scope;
    const Tensor x({2, 3}, {1.0, 2.0, 3.0, 2.0, 4.0, 12.0});
    const Tensor y = plain(x);
    const double s1 = std::sqrt(2.0 / 3.0 + 1e-5), s2 = std::sqrt(56.0 / 3.0 + 1e-5);
    const double expected[] = {-1 / s1, 0, 1 / s1, -4 / s2, -2 / s2, 6 / s2};
    for (std::size_t k = 0; k < 6; ++k) CHECK(y.data()[k] == doctest::Approx(expected[k]).epsilon(1e-14));

    const LayerNorm ln(3);
    CHECK(ln.weight().data()[0] == 1.0);  // PyTorch's start: weight 1, bias 0
    CHECK(ln.bias().data()[2] == 0.0);
    const double weight[] = {0.5, -1.0, 2.0}, bias[] = {0.1, 0.2, 0.3};
    for (std::size_t j = 0; j < 3; ++j) {
        ln.weight().data()[j] = weight[j];
        ln.bias().data()[j] = bias[j];
    }
    // Gradient in x by central differences, through the module's affine part.
    const ag::GradCheckReport r = ag::check_gradients([&](const std::vector<Tensor>& in) { return ln(in[0]); },
                                                      {Tensor::rand({3, 4 - 1}, 5, -2.0, 2.0)});
    INFO(r.table());
    CHECK(r.ok());

    // By hand, for L = sum(y · g): with x̂ = (x − mean)/σ and d = g · weight,
    //   dL/dx = (d − mean(d) − x̂ · mean(d · x̂)) / σ,  dL/dweight = Σ_rows g · x̂,  dL/dbias = Σ_rows g.
    const Tensor g({2, 3}, {0.3, -0.7, 1.1, 0.9, 0.2, -0.4});
    g.set_requires_grad(false);
    x.zero_grad();
    ln.zero_grad();
    ag::sum(ln(x) * g).backward();
    const double sigma[] = {s1, s2}, mean[] = {2.0, 6.0};
    double dweight[3] = {0, 0, 0}, dbias[3] = {0, 0, 0};
    for (std::size_t i = 0; i < 2; ++i) {
        double xhat[3], d[3], mean_d = 0, mean_dx = 0;
        for (std::size_t j = 0; j < 3; ++j) {
            xhat[j] = (x.data()[3 * i + j] - mean[i]) / sigma[i];
            d[j] = g.data()[3 * i + j] * weight[j];
            mean_d += d[j] / 3;
            mean_dx += d[j] * xhat[j] / 3;
            dweight[j] += g.data()[3 * i + j] * xhat[j];
            dbias[j] += g.data()[3 * i + j];
        }
        for (std::size_t j = 0; j < 3; ++j)
            CHECK(x.grad()[3 * i + j] ==
                  doctest::Approx((d[j] - mean_d - xhat[j] * mean_dx) / sigma[i]).epsilon(1e-10));
    }
    for (std::size_t j = 0; j < 3; ++j) {
        CHECK(ln.weight().grad()[j] == doctest::Approx(dweight[j]).epsilon(1e-12));
        CHECK(ln.bias().grad()[j] == doctest::Approx(dbias[j]).epsilon(1e-14));
    }
    CHECK(ln.named_parameters("n.")[0].name() == "n.weight");
    CHECK(fmt::format("{}", ln) == "LayerNorm(3, eps=1e-05): weight [3], bias [3]");
    CHECK_THROWS_WITH_AS(ln(Tensor::ones({2, 4})), "LayerNorm(3): the input is [2, 4]; its last axis must be of size 3",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(LayerNorm(0), "LayerNorm: the normalized size must be at least 1", std::invalid_argument);
}

TEST_CASE("Embedding: rows by index, N(0, 1) from the seed, the gradient scattered back and summed") {
    const Embedding emb(4, 2, 9);
    ag::Rng rng(9);
    for (std::size_t k = 0; k < 8; ++k) CHECK(emb.weight().data()[k] == rng.normal());  // row-major draws
    ag::Scope scope;
    const std::vector<std::int64_t> idx = {1, 0, 1};
    const Tensor out = emb(std::span<const std::int64_t>(idx));
    REQUIRE(out.shape() == ag::Shape(3, 2));
    for (std::size_t i = 0; i < 3; ++i)
        for (std::size_t j = 0; j < 2; ++j)
            CHECK(out.data()[2 * i + j] == emb.weight().data()[2 * static_cast<std::size_t>(idx[i]) + j]);
    // L = sum(out · C): dL/dW row 1 = C₀ + C₂ (index 1 used twice), row 0 = C₁, rows 2 and 3 = 0.
    const Tensor C = Tensor({3, 2}, {1.0, 2.0, 10.0, 20.0, 100.0, 200.0}).set_requires_grad(false);
    emb.zero_grad();
    ag::sum(out * C).backward();
    const double expected[] = {10, 20, 101, 202, 0, 0, 0, 0};
    for (std::size_t k = 0; k < 8; ++k) CHECK(emb.weight().grad()[k] == expected[k]);
    // Indices as a tensor (the first module of a Sequential): [2, 2] -> [2, 2, dim].
    const Tensor t = Tensor({2, 2}, {3.0, 0.0, 2.0, 3.0}).set_requires_grad(false);
    const Tensor out2 = emb(t);
    REQUIRE(out2.shape() == ag::Shape(2, 2, 2));
    CHECK(out2.data()[0] == emb.weight().data()[6]);
    CHECK(out2.data()[5] == emb.weight().data()[5]);
    const std::vector<std::int64_t> bad = {0, 4};
    CHECK_THROWS_WITH_AS(emb(std::span<const std::int64_t>(bad)),
                         "Embedding(4, 2): index 4 (position 1) is out of range [0, 4)", std::invalid_argument);
    const std::vector<std::int64_t> negative = {-1};
    CHECK_THROWS_WITH_AS(emb(std::span<const std::int64_t>(negative)),
                         "Embedding(4, 2): index -1 (position 0) is out of range [0, 4)", std::invalid_argument);
    CHECK_THROWS_WITH_AS(emb(Tensor({3}, {0.0, 1.5, 2.0})),
                         "Embedding(4, 2): index 1.5 (position 1) is not a whole number in [0, 4)",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Embedding(0, 3), "Embedding(0, 3): sizes must be at least 1", std::invalid_argument);
    CHECK(fmt::format("{}", emb) == "Embedding(4, 2): weight [4, 2]");
    // Around a given table (from_pretrained).
    const Tensor table({2, 3}, {1.0, 2.0, 3.0, 4.0, 5.0, 6.0});
    const Embedding pre(table);
    CHECK(pre.num_embeddings() == 2);
    CHECK(pre(Tensor({1}, {1.0})).data()[2] == 6.0);
}

namespace {
// A module written by a user (the example of nn/module.hpp): one learned factor per feature.
struct Scale {
    Tensor s = Tensor({3}, {1.0, 2.0, 3.0});
    Tensor operator()(const Tensor& x) const { return x * s; }
    std::vector<NamedParameter> named_parameters(const std::string& prefix = "") const {
        return {NamedParameter(prefix + "s", s)};
    }
};
// One without parameters or sizes, and without named_parameters' prefix.
struct Double {
    Tensor operator()(const Tensor& x) const { return x * 2.0; }
};
}  // namespace

TEST_CASE("Sequential takes any module: yours, the layers, a nested Sequential, and train() and eval() reach Dropout") {
    const Scale scale;
    const Dropout dropout(0.5, 3);
    const Sequential inner({Linear(3, 3, Init::Xavier, 4), Activation::Tanh});
    const Sequential model({Linear(2, 3, Init::Xavier, 1), scale, LayerNorm(3), dropout, Double{}, inner});
    const std::vector<NamedParameter> named = model.named_parameters();
    std::vector<std::string> names;
    for (const NamedParameter& p : named) names.push_back(p.name());
    CHECK(names ==
          std::vector<std::string>{"0.weight", "0.bias", "1.s", "2.weight", "2.bias", "5.0.weight", "5.0.bias"});
    CHECK(model.n_parameters() == 6 + 3 + 3 + 3 + 3 + 9 + 3);
    CHECK(model.parameters().size() == 7);
    CHECK(model.modules()[1].get<Scale>().s.data()[2] == 3.0);  // the module given (a handle to the same tensor)
    CHECK_THROWS_WITH_AS(model.modules()[1].get<Linear>(),
                         "Module::get: the module is a module, not the type asked for", std::invalid_argument);
    CHECK(dropout.is_training());
    model.eval();
    CHECK_FALSE(dropout.is_training());  // the Sequential holds a handle to the same Dropout

    ag::Scope scope;
    const Tensor x({2, 2}, {0.5, -1.0, 2.0, 0.25});
    const Linear& first = model.modules()[0].get<Linear>();
    const Tensor expected = inner(Double{}(LayerNorm(3)(scale(first(x)))));  // dropout is the identity in eval mode
    const Tensor got = model(x);
    for (std::size_t k = 0; k < 6; ++k) CHECK(got.data()[k] == doctest::Approx(expected.data()[k]).epsilon(1e-14));
    model.train();
    CHECK(dropout.is_training());
    CHECK(fmt::format("{}", model) ==
          "Sequential(6 modules, 30 parameters, float64)\n"
          "  (0): Linear(2 -> 3): weight [2, 3], bias [3]\n"
          "  (1): module\n"
          "  (2): LayerNorm(3, eps=1e-05): weight [3], bias [3]\n"
          "  (3): Dropout(p=0.5)\n"
          "  (4): module\n"
          "  (5): Sequential(2 modules, 12 parameters, float64)\n"
          "    (0): Linear(3 -> 3): weight [3, 3], bias [3]\n"
          "    (1): tanh");
    // Sizes are checked across modules that keep them (Dropout, activations).
    CHECK_THROWS_WITH_AS(Sequential({Linear(2, 3), Dropout(0.1), Activation::Relu, LayerNorm(4)}),
                         "Sequential: module 3 takes 4 inputs but module 0 gives 3 outputs", std::invalid_argument);
    // Saved and loaded by name, as any model.
    const Sequential twin({Linear(2, 3, Init::Xavier, 9), Scale{}, LayerNorm(3), Dropout(0.5), Double{},
                           Sequential({Linear(3, 3, Init::Xavier, 8), Activation::Tanh})});
    std::vector<double> a, b;
    for (const NamedParameter& p : model.named_parameters())
        for (double v : p.values()) a.push_back(v);
    const auto path = scratch_path("sequential.bin");
    save(model, path);
    load(twin, path);
    for (const NamedParameter& p : twin.named_parameters())
        for (double v : p.values()) b.push_back(v);
    CHECK(a == b);
}

TEST_CASE("Trainer: Dropout trains in training mode, and validation, evaluate and predict run in evaluation mode") {
    const Dataset data = make_moons(80, 0.1, 2);
    const Tensor X = features_tensor(data), y = labels_tensor(data);
    const Dropout dropout(0.5, 1);
    const Sequential model({Linear(2, 16, Init::He, 1), Activation::Relu, dropout, Linear(16, 2, Init::He, 2)});
    Adam opt(model.parameters(), {.lr = 0.01});
    const Trainer trainer(
        {.epochs = 3, .batch_size = 16, .validation_fraction = 0.25, .seed = 1, .progress = Progress::Off});
    const History h = trainer.fit(model, opt, X, y);
    CHECK_FALSE(dropout.is_training());  // left in evaluation mode
    // Evaluation mode: predictions and figures do not change from call to call (no masks drawn).
    const Tensor p1 = trainer.predict(model, X), p2 = trainer.predict(model, X);
    for (std::size_t k = 0; k < p1.data().size(); ++k) REQUIRE(p1.data()[k] == p2.data()[k]);
    CHECK(trainer.evaluate(model, X, y).loss == trainer.evaluate(model, X, y).loss);
    model.train();  // back in training mode, two calls differ (two masks)
    {
        ag::Scope scope;
        CHECK(ag::sum(model(X)).item() != ag::sum(model(X)).item());
    }
    // Training used the dropout: the same run without it ends elsewhere.
    const Sequential plain({Linear(2, 16, Init::He, 1), Activation::Relu, Linear(16, 2, Init::He, 2)});
    Adam opt2(plain.parameters(), {.lr = 0.01});
    const History h2 = trainer.fit(plain, opt2, X, y);
    CHECK(h.epochs[0].loss != h2.epochs[0].loss);
    CHECK(h.epochs[0].val_loss != h2.epochs[0].val_loss);
    // Without validation too, fit() ends in evaluation mode.
    model.train();
    Trainer({.epochs = 1, .progress = Progress::Off}).fit(model, opt, X, y);
    CHECK_FALSE(dropout.is_training());
    // Making a Sequential leaves its modules' modes alone (as PyTorch).
    const Sequential wrapped({dropout});
    CHECK_FALSE(dropout.is_training());
}
