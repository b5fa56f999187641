#pragma once
// A training loop for tensor models: mini-batches from a seeded shuffle,
// epochs, a held-out validation split, loss and accuracy per epoch, a
// callback per epoch (log, stop early), the history as CSV, and progress
// output: a live bar on a terminal, one line per epoch otherwise (CI, pipes).
//
//     ag::nn::TensorMLP32 model(64, {128, 10}, {.init = ag::nn::Init::He, .seed = 1});
//     ag::nn::Adam opt(model.parameters(), {.lr = 1e-3});
//     ag::nn::Trainer trainer({.epochs = 20, .batch_size = 32, .loss = ag::nn::Loss::CrossEntropy,
//                              .validation_fraction = 0.1, .seed = 1});
//     ag::nn::History h = trainer.fit(model, opt, X, y);   // X [n, d], y [n]
//     h.write_csv("history.csv");
//
// Targets y, by loss:
//   CrossEntropy        y [n] of class indices 0..C−1; the model gives logits [n, C]
//   MSE                 y [n] or [n, k], the shape of the model's output (y [n] matches [n, 1])
//   BinaryCrossEntropy  y in [0, 1], the model gives logits (binary_cross_entropy_with_logits)
//   Hinge               y −1 or +1, the model gives scores (mean of max(0, 1 − y·s))
// Accuracy: argmax = label for CrossEntropy; logit > 0 ⇔ y > 0.5 for
// BinaryCrossEntropy; score > 0 ⇔ y > 0 for Hinge; none (NaN) for MSE.
//
// Choices (Keras's, where PyTorch has no trainer):
//   - an epoch's loss and accuracy are the means over its mini-batches,
//     each taken before that batch's update, weighted by batch size;
//     validation figures are computed after the epoch, without gradients;
//   - the validation split is held out once, before the first epoch, and
//     stratified by label for the classification losses;
//   - a schedule (if given) is stepped after each epoch;
//   - each step runs inside an ag::Scope, so memory stays flat; X and y
//     should need no gradient (features_tensor/labels_tensor make them so).
#include <nn/optim.hpp>

#include <autograd/tensor.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ag::nn {

enum class Loss { CrossEntropy, MSE, BinaryCrossEntropy, Hinge };
enum class Progress { Auto, Bar, Lines, Off };

struct EpochStats {
    std::size_t epoch = 0;  // 1-based
    double loss = 0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();
    double val_loss = std::numeric_limits<double>::quiet_NaN();
    double val_accuracy = std::numeric_limits<double>::quiet_NaN();
    double lr = 0;                  // learning rate used during the epoch
    double seconds = 0;             // wall time of the epoch's training
    double samples_per_second = 0;
};

struct History {
    std::vector<EpochStats> epochs;
    // "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds" and one row per
    // epoch; missing figures are empty fields.
    std::string csv() const;
    void write_csv(const std::filesystem::path& path) const;
};

struct Evaluation {
    double loss = 0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();
};

struct TrainOptions {
    std::size_t epochs = 10;
    std::size_t batch_size = 32;       // 1: per-sample updates; 0 (or ≥ rows): full batch
    Loss loss = Loss::CrossEntropy;
    double validation_fraction = 0.0;  // in [0, 1): rows held out for validation
    bool shuffle = true;               // reshuffle the training rows every epoch
    std::uint64_t seed = 0;            // the shuffles and the validation split
    LRSchedule* schedule = nullptr;
    // Called after each epoch with its figures; return false to stop training.
    std::function<bool(const EpochStats&)> on_epoch = {};
    Progress progress = Progress::Auto;
    std::FILE* output = stdout;
};

namespace detail {
// The non-template parts of the trainer (trainer.cpp).
void check_training_data(const char* who, const Shape& x, const Shape& y, Loss loss, std::span<const double> y_values);
std::vector<std::int64_t> class_indices(std::span<const double> y);
// Splits row indices 0..n−1 into training and validation rows (seeded,
// stratified by label for classification losses).
void split_rows(std::size_t n, std::span<const double> y, Loss loss, double fraction, std::uint64_t seed,
                std::vector<std::int64_t>& train, std::vector<std::int64_t>& validation);
template <class T>
BasicTensor<T> batch_loss(Loss loss, const BasicTensor<T>& pred, const BasicTensor<T>& targets,
                          std::span<const std::int64_t> labels);
// Correct predictions in a batch (0 for MSE).
template <class T>
std::size_t count_correct(Loss loss, const BasicTensor<T>& pred, std::span<const std::int64_t> rows,
                          std::span<const double> y);

class ProgressPrinter {
public:
    ProgressPrinter(Progress mode, std::FILE* out, std::size_t epochs);
    void batch(std::size_t epoch, std::size_t done, std::size_t total, double loss, double seconds);
    void epoch(const EpochStats& s);

private:
    bool bar_ = false, on_ = true;
    std::FILE* out_;
    std::size_t epochs_;
    std::chrono::steady_clock::time_point last_draw_{};
};
}  // namespace detail

class Trainer {
public:
    explicit Trainer(TrainOptions options = {}) : options_(std::move(options)) {}
    const TrainOptions& options() const noexcept { return options_; }

    // Trains on (X, y), holding out options.validation_fraction for validation.
    template <class Model, class T>
    History fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y) const;
    // Trains on (X, y) and validates on (X_val, y_val) after each epoch.
    template <class Model, class T>
    History fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y,
                const BasicTensor<T>& X_val, const BasicTensor<T>& y_val) const;
    // Loss and accuracy over (X, y), without gradients, in batches.
    template <class Model, class T>
    Evaluation evaluate(const Model& model, const BasicTensor<T>& X, const BasicTensor<T>& y) const;

private:
    template <class Model, class T>
    History run(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y,
                std::vector<std::int64_t> train_rows, const BasicTensor<T>* X_val, const BasicTensor<T>* y_val,
                std::vector<std::int64_t> val_rows) const;
    template <class Model, class T>
    Evaluation evaluate_rows(const Model& model, const BasicTensor<T>& X, const BasicTensor<T>& y,
                             std::span<const std::int64_t> rows) const;

    TrainOptions options_;
};

// ------------------------------------------------------------ templates ---

template <class Model, class T>
History Trainer::fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y) const {
    const std::vector<double> y_values(y.data().begin(), y.data().end());
    detail::check_training_data("Trainer::fit", X.shape(), y.shape(), options_.loss, y_values);
    std::vector<std::int64_t> train, validation;
    detail::split_rows(static_cast<std::size_t>(X.shape()[0]), y_values, options_.loss, options_.validation_fraction,
                       options_.seed, train, validation);
    const bool validate = !validation.empty();  // before `validation` is moved from
    return run(model, optimizer, X, y, std::move(train), validate ? &X : nullptr, validate ? &y : nullptr,
               std::move(validation));
}

template <class Model, class T>
History Trainer::fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y,
                     const BasicTensor<T>& X_val, const BasicTensor<T>& y_val) const {
    const std::vector<double> y_values(y.data().begin(), y.data().end());
    const std::vector<double> y_val_values(y_val.data().begin(), y_val.data().end());
    detail::check_training_data("Trainer::fit", X.shape(), y.shape(), options_.loss, y_values);
    detail::check_training_data("Trainer::fit (validation)", X_val.shape(), y_val.shape(), options_.loss, y_val_values);
    std::vector<std::int64_t> train(static_cast<std::size_t>(X.shape()[0])),
        validation(static_cast<std::size_t>(X_val.shape()[0]));
    for (std::size_t i = 0; i < train.size(); ++i) train[i] = static_cast<std::int64_t>(i);
    for (std::size_t i = 0; i < validation.size(); ++i) validation[i] = static_cast<std::int64_t>(i);
    return run(model, optimizer, X, y, std::move(train), &X_val, &y_val, std::move(validation));
}

template <class Model, class T>
Evaluation Trainer::evaluate(const Model& model, const BasicTensor<T>& X, const BasicTensor<T>& y) const {
    const std::vector<double> y_values(y.data().begin(), y.data().end());
    detail::check_training_data("Trainer::evaluate", X.shape(), y.shape(), options_.loss, y_values);
    std::vector<std::int64_t> rows(static_cast<std::size_t>(X.shape()[0]));
    for (std::size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<std::int64_t>(i);
    return evaluate_rows(model, X, y, rows);
}

template <class Model, class T>
Evaluation Trainer::evaluate_rows(const Model& model, const BasicTensor<T>& X, const BasicTensor<T>& y,
                                  std::span<const std::int64_t> rows) const {
    const std::vector<double> y_values(y.data().begin(), y.data().end());
    const std::vector<std::int64_t> labels =
        options_.loss == Loss::CrossEntropy ? detail::class_indices(y_values) : std::vector<std::int64_t>{};
    std::vector<std::int64_t> batch_labels;
    const std::size_t chunk = 1024;
    double loss_sum = 0;
    std::size_t correct = 0;
    NoGrad no_grad;
    for (std::size_t start = 0; start < rows.size(); start += chunk) {
        Scope scope;
        const std::span<const std::int64_t> batch = rows.subspan(start, std::min(chunk, rows.size() - start));
        if (!labels.empty()) {
            batch_labels.clear();
            for (std::int64_t r : batch) batch_labels.push_back(labels[static_cast<std::size_t>(r)]);
        }
        const BasicTensor<T> pred = model(select_rows(X, batch));
        const BasicTensor<T> loss = detail::batch_loss(options_.loss, pred, select_rows(y, batch), batch_labels);
        loss_sum += loss.item() * static_cast<double>(batch.size());
        correct += detail::count_correct(options_.loss, pred, batch, y_values);
    }
    Evaluation e;
    e.loss = loss_sum / static_cast<double>(rows.size());
    if (options_.loss != Loss::MSE) e.accuracy = static_cast<double>(correct) / static_cast<double>(rows.size());
    return e;
}

template <class Model, class T>
History Trainer::run(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y,
                     std::vector<std::int64_t> train_rows, const BasicTensor<T>* X_val, const BasicTensor<T>* y_val,
                     std::vector<std::int64_t> val_rows) const {
    const std::vector<double> y_values(y.data().begin(), y.data().end());
    const std::vector<std::int64_t> labels =
        options_.loss == Loss::CrossEntropy ? detail::class_indices(y_values) : std::vector<std::int64_t>{};
    const std::size_t n = train_rows.size();
    if (n == 0) throw std::invalid_argument("Trainer::fit: no training rows");
    const std::size_t batch_size = options_.batch_size == 0 ? n : std::min(options_.batch_size, n);
    std::vector<std::int64_t> batch_labels;
    batch_labels.reserve(batch_size);
    Rng rng(options_.seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from the split's
    detail::ProgressPrinter progress(options_.progress, options_.output, options_.epochs);
    History history;
    for (std::size_t epoch = 1; epoch <= options_.epochs; ++epoch) {
        if (options_.shuffle) rng.shuffle(std::span<std::int64_t>(train_rows));
        const auto start_time = std::chrono::steady_clock::now();
        EpochStats stats;
        stats.epoch = epoch;
        stats.lr = optimizer.lr();
        double loss_sum = 0;
        std::size_t correct = 0;
        for (std::size_t start = 0; start < n; start += batch_size) {
            Scope scope;
            const std::span<const std::int64_t> batch(train_rows.data() + start, std::min(batch_size, n - start));
            if (!labels.empty()) {
                batch_labels.clear();
                for (std::int64_t r : batch) batch_labels.push_back(labels[static_cast<std::size_t>(r)]);
            }
            const BasicTensor<T> pred = model(select_rows(X, batch));
            const BasicTensor<T> loss = detail::batch_loss(options_.loss, pred, select_rows(y, batch), batch_labels);
            optimizer.zero_grad();
            loss.backward();
            optimizer.step();
            loss_sum += loss.item() * static_cast<double>(batch.size());
            correct += detail::count_correct(options_.loss, pred, batch, y_values);
            const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
            progress.batch(epoch, start + batch.size(), n, loss_sum / static_cast<double>(start + batch.size()), elapsed);
        }
        stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
        stats.samples_per_second = stats.seconds > 0 ? static_cast<double>(n) / stats.seconds : 0;
        stats.loss = loss_sum / static_cast<double>(n);
        if (options_.loss != Loss::MSE) stats.accuracy = static_cast<double>(correct) / static_cast<double>(n);
        if (X_val != nullptr && !val_rows.empty()) {
            const Evaluation v = evaluate_rows(model, *X_val, *y_val, val_rows);
            stats.val_loss = v.loss;
            stats.val_accuracy = v.accuracy;
        }
        history.epochs.push_back(stats);
        progress.epoch(stats);
        if (options_.schedule != nullptr) options_.schedule->step();
        if (options_.on_epoch && !options_.on_epoch(stats)) break;
    }
    return history;
}

}  // namespace ag::nn
