// The rows train_test_split and the trainer's validation split choose for
// fixed seeds, pinned exactly (they depend on the random draws only), and
// the losses and accuracies of short training runs, checked against a
// reference training loop computed in this test (see below), so that they
// hold on any CPU whatever BLAS kernel it selects. A refactor that keeps
// behaviour keeps every figure here; another shuffle, another batching or
// another order of the trainer's steps does not.
#include <nn/nn.hpp>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>
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

// ------------------------------------------------------------------------
// The trainer's figures are checked against a reference computed here, in
// plain loops in double precision, from the trainer's documented rules: the
// validation rows split_rows chooses (pinned in the test cases below), the training rows
// reshuffled every epoch by an ag::Rng seeded with seed ^ 0x9e3779b97f4a7c15,
// mini-batches of 7 in that order, each batch's mean loss and correct
// predictions taken before its Adam update, the epoch's figures weighted by
// batch size, validation after the epoch. Comparing with a tolerance rather
// than to the bit keeps the test valid whatever summation order the BLAS
// kernel picks (OpenBLAS chooses by CPU: OPENBLAS_CORETYPE=Nehalem and
// Haswell round differently), while a change of the trainer's order (other
// batches, another shuffle, figures after the update) moves the losses by
// far more than the tolerance.

// A 2-layer network h = tanh(x·W1 + b1), out = h·W2 + b2, in doubles.
struct Reference {
    std::size_t d = 0, H = 0, k = 0;
    std::array<std::vector<double>, 4> p;  // W1 [d, H], b1 [H], W2 [H, k], b2 [k], row-major
    bool float32 = false;                  // parameters are rounded to float after each update
};

template <class Model>
Reference reference_of(const Model& model, bool float32) {
    const std::vector<NamedParameter> named = model.named_parameters();
    REQUIRE(named.size() == 4);
    Reference r;
    r.d = named[0].shape()[0];
    r.H = named[0].shape()[1];
    r.k = named[2].shape()[1];
    for (std::size_t i = 0; i < 4; ++i) r.p[i] = named[i].values();
    r.float32 = float32;
    return r;
}

struct BatchFigures {
    double loss = 0;  // mean over the batch, as the loss functions reduce
    std::size_t correct = 0;
    double margin = std::numeric_limits<double>::infinity();  // smallest distance of a prediction from its threshold
};

// The loss, correct predictions and, when `grad` is given, the gradient of
// the mean loss, over `rows` of X [n, d] with targets Y (one per row for
// cross-entropy, else k per row).
BatchFigures reference_batch(const Reference& net, Loss loss, const std::vector<double>& X,
                             const std::vector<double>& Y, std::span<const std::int64_t> rows,
                             std::array<std::vector<double>, 4>* grad) {
    const auto& [W1, b1, W2, b2] = net.p;
    const std::size_t d = net.d, H = net.H, k = net.k;
    if (grad != nullptr)
        for (std::size_t i = 0; i < 4; ++i) (*grad)[i].assign(net.p[i].size(), 0.0);
    const double elements = static_cast<double>(loss == Loss::CrossEntropy ? rows.size() : rows.size() * k);
    BatchFigures f;
    std::vector<double> h(H), out(k), dout(k);
    for (const std::int64_t row : rows) {
        const auto r = static_cast<std::size_t>(row);
        const double* x = X.data() + r * d;
        for (std::size_t j = 0; j < H; ++j) {
            double z = b1[j];
            for (std::size_t i = 0; i < d; ++i) z += x[i] * W1[i * H + j];
            h[j] = std::tanh(z);
        }
        for (std::size_t c = 0; c < k; ++c) {
            out[c] = b2[c];
            for (std::size_t j = 0; j < H; ++j) out[c] += h[j] * W2[j * k + c];
        }
        if (loss == Loss::CrossEntropy) {
            const auto label = static_cast<std::size_t>(Y[r]);
            std::size_t best = 0;
            for (std::size_t c = 1; c < k; ++c)
                if (out[c] > out[best]) best = c;
            double runner_up = -std::numeric_limits<double>::infinity();
            for (std::size_t c = 0; c < k; ++c)
                if (c != best) runner_up = std::max(runner_up, out[c]);
            f.correct += best == label ? 1 : 0;
            f.margin = std::min(f.margin, out[best] - runner_up);
            double total = 0;
            for (std::size_t c = 0; c < k; ++c) total += std::exp(out[c] - out[best]);
            const double log_sum_exp = out[best] + std::log(total);
            f.loss += log_sum_exp - out[label];
            for (std::size_t c = 0; c < k; ++c)
                dout[c] = (std::exp(out[c] - log_sum_exp) - (c == label ? 1.0 : 0.0)) / elements;
        } else {
            bool all = true;
            for (std::size_t c = 0; c < k; ++c) {
                const double s = out[c], t = Y[r * k + c];
                switch (loss) {
                    case Loss::BinaryCrossEntropy:
                        f.loss += std::max(s, 0.0) - s * t + std::log1p(std::exp(-std::abs(s)));
                        dout[c] = (1 / (1 + std::exp(-s)) - t) / elements;
                        all = all && (s > 0) == (t > 0.5);
                        break;
                    case Loss::Hinge:
                        f.loss += std::max(0.0, 1 - t * s);
                        dout[c] = (1 - t * s > 0 ? -t : 0.0) / elements;
                        all = all && (s > 0) == (t > 0);
                        break;
                    default:  // MSE
                        f.loss += (s - t) * (s - t);
                        dout[c] = 2 * (s - t) / elements;
                }
                if (loss != Loss::MSE) f.margin = std::min(f.margin, std::abs(s));
            }
            f.correct += loss != Loss::MSE && all ? 1 : 0;
        }
        if (grad == nullptr) continue;
        auto& [gW1, gb1, gW2, gb2] = *grad;
        for (std::size_t c = 0; c < k; ++c) {
            gb2[c] += dout[c];
            for (std::size_t j = 0; j < H; ++j) gW2[j * k + c] += h[j] * dout[c];
        }
        for (std::size_t j = 0; j < H; ++j) {
            double dh = 0;
            for (std::size_t c = 0; c < k; ++c) dh += dout[c] * W2[j * k + c];
            const double dz = dh * (1 - h[j] * h[j]);
            gb1[j] += dz;
            for (std::size_t i = 0; i < d; ++i) gW1[i * H + j] += x[i] * dz;
        }
    }
    f.loss /= elements;
    return f;
}

// torch.optim.Adam's update (lr 0.05, betas 0.9 and 0.999, eps 1e-8).
struct ReferenceAdam {
    std::array<std::vector<double>, 4> m, v;
    int t = 0;
    void step(Reference& net, const std::array<std::vector<double>, 4>& grad) {
        ++t;
        const double c1 = 1 - std::pow(0.9, t), c2 = 1 - std::pow(0.999, t), step = 0.05 / c1;
        for (std::size_t q = 0; q < 4; ++q) {
            m[q].resize(grad[q].size());
            v[q].resize(grad[q].size());
            for (std::size_t i = 0; i < grad[q].size(); ++i) {
                const double g = grad[q][i];
                m[q][i] = 0.9 * m[q][i] + 0.1 * g;
                v[q][i] = 0.999 * v[q][i] + 0.001 * g * g;
                double x = net.p[q][i] - step * m[q][i] / (std::sqrt(v[q][i] / c2) + 1e-8);
                if (net.float32) x = static_cast<float>(x);
                net.p[q][i] = x;
            }
        }
    }
};

struct Rows {
    const std::vector<double>& X;
    const std::vector<double>& Y;
    std::vector<std::int64_t> rows;
};

// Three epochs of the trainer's loop, by the rules above: per epoch loss,
// accuracy, val_loss, val_accuracy, then the loss and accuracy over `eval`
// (the layout of figures()). `margin` gets the smallest distance of any
// counted prediction from its decision threshold.
std::vector<double> reference_run(Reference net, Loss loss, Rows train, const Rows& validation, const Rows& eval,
                                  double& margin) {
    const std::size_t epochs = 3, batch = 7;
    const bool has_accuracy = loss != Loss::MSE;
    auto accuracy = [&](std::size_t correct, std::size_t n) {
        return has_accuracy ? static_cast<double>(correct) / static_cast<double>(n) : no_figure;
    };
    ag::Rng rng(3 ^ 0x9e3779b97f4a7c15ULL);
    ReferenceAdam adam;
    std::array<std::vector<double>, 4> grad;
    std::vector<double> out;
    margin = std::numeric_limits<double>::infinity();
    const std::size_t n = train.rows.size();
    for (std::size_t epoch = 0; epoch < epochs; ++epoch) {
        rng.shuffle(std::span<std::int64_t>(train.rows));
        double loss_sum = 0;
        std::size_t correct = 0;
        for (std::size_t start = 0; start < n; start += batch) {
            const std::span<const std::int64_t> rows(train.rows.data() + start, std::min(batch, n - start));
            const BatchFigures f = reference_batch(net, loss, train.X, train.Y, rows, &grad);
            loss_sum += f.loss * static_cast<double>(rows.size());
            correct += f.correct;
            margin = std::min(margin, f.margin);
            adam.step(net, grad);
        }
        const BatchFigures v = reference_batch(net, loss, validation.X, validation.Y, validation.rows, nullptr);
        margin = std::min(margin, v.margin);
        out.insert(out.end(), {loss_sum / static_cast<double>(n), accuracy(correct, n), v.loss,
                               accuracy(v.correct, validation.rows.size())});
    }
    const BatchFigures e = reference_batch(net, loss, eval.X, eval.Y, eval.rows, nullptr);
    margin = std::min(margin, e.margin);
    out.insert(out.end(), {e.loss, accuracy(e.correct, eval.rows.size())});
    return out;
}

// Losses within `tolerance` (relative) of the reference; accuracies, which
// count predictions, exactly; NaN (no accuracy for MSE) where the reference
// has NaN.
void check_against_reference(const std::vector<double>& got, const std::vector<double>& reference, double tolerance) {
    REQUIRE(got.size() == reference.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
        CAPTURE(i);
        const std::string figures = fmt::format("trainer {} reference {}", got[i], reference[i]);
        CAPTURE(figures);
        if (std::isnan(reference[i]))
            CHECK(std::isnan(got[i]));
        else if (i % 2 == 1)  // an accuracy
            CHECK(got[i] == reference[i]);
        else
            CHECK(std::abs(got[i] - reference[i]) <= tolerance * std::abs(reference[i]));
    }
}

// The bits of each figure, so that NaN compares equal to NaN.
std::vector<std::uint64_t> bit_patterns(const std::vector<double>& figures) {
    std::vector<std::uint64_t> bits;
    for (double x : figures) bits.push_back(std::bit_cast<std::uint64_t>(x));
    return bits;
}

// Per epoch loss, accuracy, val_loss, val_accuracy, then an evaluation's
// loss and accuracy.
std::vector<double> figures(const History& h, const Evaluation& e) {
    std::vector<double> out;
    for (const EpochStats& s : h.epochs) out.insert(out.end(), {s.loss, s.accuracy, s.val_loss, s.val_accuracy});
    out.insert(out.end(), {e.loss, e.accuracy});
    return out;
}

TrainOptions options(Loss loss) {
    return {
        .epochs = 3, .batch_size = 7, .loss = loss, .validation_fraction = 0.25, .seed = 3, .progress = Progress::Off};
}

// Tolerances (relative), far above what summation order does and far
// below what a change of order does: with OPENBLAS_CORETYPE Prescott,
// Nehalem, Sandybridge, Haswell, SkylakeX or Zen, float64 losses differ
// from the reference by at most 3e-15 and float32 ones (rounded at every
// product and sum) by at most 7e-8, while another shuffle seed or batch
// size moves them by 1e-3 or more.
constexpr double float64_tolerance = 1e-9, float32_tolerance = 1e-5;
// Accuracies are compared exactly only if no prediction is this close to
// its threshold, where the model's rounding and the reference's could fall
// on either side (their outputs differ by ~1e-7 in float32).
constexpr double float64_margin = 1e-8, float32_margin = 1e-4;

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
    // Soft binary targets (probabilities) are not classes: one group, the
    // regression rows, not a group per distinct value.
    std::vector<double> soft(d.size());
    for (std::size_t i = 0; i < soft.size(); ++i) soft[i] = 0.5 + 0.01 * static_cast<double>(i);
    detail::split_rows(d.size(), soft, Loss::BinaryCrossEntropy, 0.3, 11, train, validation);
    CHECK(validation == std::vector<std::int64_t>{7, 6, 0, 11, 4, 17, 15});
    CHECK(train == std::vector<std::int64_t>{19, 5, 8, 3, 16, 10, 13, 12, 18, 2, 20, 22, 1, 14, 9, 21});
    // No validation: every row in order.
    detail::split_rows(4, std::vector<double>{1, 0, 1, 0}, Loss::CrossEntropy, 0.0, 11, train, validation);
    CHECK(train == std::vector<std::int64_t>{0, 1, 2, 3});
    CHECK(validation.empty());
}

TEST_CASE("The trainer's figures are the reference loop's: cross-entropy, binary cross-entropy, hinge, mse, float32") {
    struct Run {
        std::string name;
        Loss loss;
        std::size_t outputs;
        bool float32;
    };
    const std::vector<Run> runs = {
        {"cross-entropy", Loss::CrossEntropy, 2, false},
        {"binary cross-entropy", Loss::BinaryCrossEntropy, 1, false},
        {"hinge", Loss::Hinge, 1, false},
        {"cross-entropy, float32", Loss::CrossEntropy, 2, true},
        {"mse, y [n] against an output [n, 1]", Loss::MSE, 1, false},
    };
    const Dataset moons = make_moons(40, 0.2, 5);
    Dataset signed_moons = moons;  // hinge's -1/+1 targets
    for (double& t : signed_moons.labels) t = 2 * t - 1;
    for (const Run& run : runs) {
        CAPTURE(run.name);
        const Dataset& data = run.loss == Loss::Hinge ? signed_moons : moons;
        // A 2-6-k tanh network trained with a held-out split, then evaluated on every row.
        auto train = [&]<class T>(T) {
            const BasicTensorMLP<T> model(2, {6, run.outputs},
                                          {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 1});
            const Reference start = reference_of(model, run.float32);
            Adam opt(model.parameters(), {.lr = 0.05});
            const Trainer trainer(options(run.loss));
            const auto X = features_tensor<T>(data), y = labels_tensor<T>(data);
            const History h = trainer.fit(model, opt, X, y);
            return std::pair{start, figures(h, trainer.evaluate(model, X, y))};
        };
        const auto [start, got] = run.float32 ? train(float{}) : train(double{});
        std::vector<std::int64_t> train_rows, validation_rows;
        detail::split_rows(data.size(), data.labels, run.loss, 0.25, 3, train_rows, validation_rows);
        CHECK(train_rows.size() == 30);
        double margin = 0;
        const std::vector<double> reference = reference_run(
            start, run.loss, {data.features, data.labels, train_rows}, {data.features, data.labels, validation_rows},
            {data.features, data.labels, detail::all_rows(static_cast<std::int64_t>(data.size()))}, margin);
        REQUIRE(margin > (run.float32 ? float32_margin : float64_margin));
        check_against_reference(got, reference, run.float32 ? float32_tolerance : float64_tolerance);
        // In one process (one BLAS kernel) the same run gives the same figures to the bit.
        const auto again = run.float32 ? train(float{}) : train(double{});
        CHECK(bit_patterns(again.second) == bit_patterns(got));
    }
}

TEST_CASE("The trainer's figures are the reference loop's: mse on two target columns with explicit validation data") {
    std::vector<double> xs, ys;
    for (int i = 0; i < 10; ++i) {
        xs.insert(xs.end(), {0.1 * i, -0.2 * i + 0.5});
        ys.insert(ys.end(), {0.05 * i, std::sin(0.3 * i)});
    }
    const std::vector<double> xs_val(xs.begin() + 4, xs.begin() + 12), ys_val(ys.begin() + 4, ys.begin() + 12);
    const Tensor X = Tensor({10, 2}, xs).set_requires_grad(false), y = Tensor({10, 2}, ys).set_requires_grad(false);
    const Tensor X_val = Tensor({4, 2}, xs_val).set_requires_grad(false);
    const Tensor y_val = Tensor({4, 2}, ys_val).set_requires_grad(false);
    const TensorMLP model(2, {5, 2}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 4});
    const Reference start = reference_of(model, false);
    Adam opt(model.parameters(), {.lr = 0.05});
    const Trainer trainer(options(Loss::MSE));
    const History h = trainer.fit(model, opt, X, y, X_val, y_val);
    const std::vector<double> got = figures(h, trainer.evaluate(model, X_val, y_val));
    // Every training row, reshuffled each epoch; validation on every row of X_val.
    double margin = 0;
    const std::vector<double> reference =
        reference_run(start, Loss::MSE, {xs, ys, detail::all_rows(10)}, {xs_val, ys_val, detail::all_rows(4)},
                      {xs_val, ys_val, detail::all_rows(4)}, margin);
    check_against_reference(got, reference, float64_tolerance);
    // The final evaluation is the last epoch's validation.
    CHECK(got[12] == doctest::Approx(got[10]).epsilon(1e-15));
}
