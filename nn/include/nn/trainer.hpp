#pragma once
// A training loop for tensor models: mini-batches from a seeded shuffle,
// epochs, a held-out validation split, loss and accuracy per epoch, a
// callback per epoch (log, stop early), the history as CSV, and progress
// output: a live bar on a terminal (fitted to its width, with elapsed time
// and ETA), one line per epoch otherwise (CI, pipes).
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
//     stratified by label for the classification losses when the targets
//     are whole numbers (class indices, 0/1, ±1; soft targets and MSE: one
//     random split); a fraction that leaves either part empty is an error,
//     as are X and y without rows (a mean over no rows would be NaN);
//   - a schedule (if given) is stepped after each epoch, with the epoch's
//     validation loss (its training loss without validation) for the
//     schedules that watch one (ReduceLROnPlateau);
//   - clip_grad_norm > 0 clips each batch's gradients to that global norm
//     (nn/optim.hpp clip_grad_norm) between backward() and the step, after
//     the ranks' gradients are averaged in data-parallel training;
//   - a model with train(bool) (Dropout, Sequential, ...: nn/module.hpp) is
//     put in training mode for the training steps and in evaluation mode
//     for validation, evaluate() and predict(), as Keras does; fit() leaves
//     it in evaluation mode, so call model.train() before training it by hand.
//
// A custom loss (TrainOptions::loss_fn) replaces `loss`: any callable
// (predictions, targets) -> a one-element tensor, e.g.
//     .loss_fn = [](const auto& pred, const auto& y) { return ag::mean(ag::abs(pred - y)); }
// It is given the model's output for a batch and the same rows of y
// (reshaped to the output's shape when y is [n] and the output [n, 1], as
// for MSE). y may hold any finite numbers; the validation split is not
// stratified, and there is no accuracy (NaN), as for MSE. A generic lambda
// serves float64 and float32 models alike (its body must then compile for
// both); one taking Tensor only serves float64 models (and the other way
// round for Tensor32).
//
// predict(model, X) gives the model's outputs for X's rows (in batches,
// without gradients, in evaluation mode); predict_classes(model, X) the
// predicted class per row, by the trainer's loss: the argmax (CrossEntropy),
// 1 when the logit is > 0 else 0 (BinaryCrossEntropy), +1 when the score
// is > 0 else −1 (Hinge), the rules that accuracy counts by.
//   - each step runs inside an ag::Scope, so memory stays flat; X and y
//     should need no gradient (features_tensor/labels_tensor make them so).
//
// Data-parallel training (TrainOptions::distributed, nn/distributed.hpp):
// every rank calls fit() with the same X, y, model and options. The ranks
// shuffle identically (same seed), each takes its shard of every global
// batch of batch_size rows (rank r of R: rows [r·b/R, (r+1)·b/R) of a batch
// of b), computes its gradient, and the gradients are averaged weighted by
// shard size before every step: the updates are those of one process
// training on the whole batch (to rounding, whether or not R divides the
// batch). At the start, rank 0's parameters are broadcast and the ranks
// check that they agree on the data's and the options' sizes. Epoch
// figures and validation are computed over all ranks (each evaluates its
// shard of the validation rows); the live bar shows rank 0's own running
// loss. Output (bar and per-epoch lines) and checkpoints come from rank 0
// only; every rank gets the same History. on_epoch runs on every rank, and
// training stops when it returns false on any rank. An exception on one
// rank (a bad batch, a failed checkpoint write) stops every rank with an
// error (see nn/distributed.hpp).
//
// Checkpoints (TrainOptions::checkpoint, nn/checkpoint.hpp): after every
// checkpoint_every epochs and after the last, the model, the optimizer's
// state, the schedule and the epochs done go to one file (atomically, as
// save()). With resume, fit() starts from that file when it exists: the
// epochs it records are skipped, their shuffles replayed, so the run ends
// with the same parameters as one never interrupted (the History holds the
// new epochs only). Every rank reads the file: keep it where all can
// (a shared file system).
#include <nn/checkpoint.hpp>
#include <nn/distributed.hpp>
#include <nn/optim.hpp>

#include <autograd/tensor.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace ag::nn {

enum class Loss { CrossEntropy, MSE, BinaryCrossEntropy, Hinge };

// A user's loss for the Trainer (see above): holds the callable for float64
// tensors, for float32 tensors, or both, whichever it can be called with.
class LossFunction {
public:
    template <class T>
    using Function = std::function<BasicTensor<T>(const BasicTensor<T>& predictions, const BasicTensor<T>& targets)>;

    LossFunction() = default;
    template <class F>
    requires(!std::same_as<std::remove_cvref_t<F>, LossFunction> &&
             (std::is_invocable_r_v<Tensor, F&, const Tensor&, const Tensor&> ||
              std::is_invocable_r_v<Tensor32, F&, const Tensor32&, const Tensor32&>))
        LossFunction(F f) {  // NOLINT: implicit, so that `.loss_fn = [](...) {...}` reads naturally
        if constexpr (std::is_invocable_r_v<Tensor, F&, const Tensor&, const Tensor&>) f64_ = f;
        if constexpr (std::is_invocable_r_v<Tensor32, F&, const Tensor32&, const Tensor32&>) f32_ = f;
    }
    explicit operator bool() const noexcept { return static_cast<bool>(f64_) || static_cast<bool>(f32_); }
    // The callable for BasicTensor<T>; empty when the loss takes the other type.
    template <class T>
    const Function<T>& get() const noexcept {
        if constexpr (std::same_as<T, float>)
            return f32_;
        else
            return f64_;
    }

private:
    Function<double> f64_;
    Function<float> f32_;
};
enum class Progress { Auto, Bar, Lines, Off };

struct EpochStats {
    std::size_t epoch = 0;  // 1-based
    double loss = 0;
    double accuracy = std::numeric_limits<double>::quiet_NaN();
    double val_loss = std::numeric_limits<double>::quiet_NaN();
    double val_accuracy = std::numeric_limits<double>::quiet_NaN();
    double lr = 0;       // learning rate used during the epoch
    double seconds = 0;  // wall time of the epoch's training
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
    std::size_t batch_size = 32;  // 1: per-sample updates; 0 (or ≥ rows): full batch
    Loss loss = Loss::CrossEntropy;
    LossFunction loss_fn = {};         // set: this loss instead of `loss` (see above)
    double clip_grad_norm = 0.0;       // > 0: the largest global gradient norm (see above); 0: no clipping
    double validation_fraction = 0.0;  // in [0, 1): rows held out for validation
    bool shuffle = true;               // reshuffle the training rows every epoch
    std::uint64_t seed = 0;            // the shuffles and the validation split
    LRSchedule* schedule = nullptr;
    // Called after each epoch with its figures; return false to stop training.
    std::function<bool(const EpochStats&)> on_epoch = {};
    Progress progress = Progress::Auto;
    std::FILE* output = stdout;
    // Data-parallel training across processes (see above); nullptr: this one.
    Distributed* distributed = nullptr;
    // Where to write checkpoints (see above); empty: none.
    std::filesystem::path checkpoint = {};
    std::size_t checkpoint_every = 1;  // epochs
    bool resume = false;               // start from `checkpoint` if it exists
};

namespace detail {
// The trainer's helpers that need no Model (defined in trainer.cpp).

// The targets y in the forms the trainer reads, made once per fit or
// evaluate: the tensor (for the losses that compare outputs with targets),
// its elements (accuracy) and, for cross-entropy, class indices.
template <class T>
struct Targets {
    const BasicTensor<T>& tensor;
    std::vector<double> values;
    std::vector<std::int64_t> labels;  // cross-entropy only
};
// Checks (X, y) for `loss` (errors start with `who`), then makes y's targets.
template <class T>
Targets<T> make_targets(const char* who, const Shape& x, const BasicTensor<T>& y, Loss loss);
// 0, 1, ..., n−1.
std::vector<std::int64_t> all_rows(std::int64_t n);
// Splits row indices 0..n−1 into training and validation rows (seeded,
// stratified by whole-number label for classification losses); throws if
// either part would be empty.
void split_rows(std::size_t n, std::span<const double> y, Loss loss, double fraction, std::uint64_t seed,
                std::vector<std::int64_t>& train, std::vector<std::int64_t>& validation);
// The loss of the predictions for `rows` against those rows' targets.
// Cross-entropy gathers the rows' class indices into `labels`, which the
// caller keeps across batches so that a training step allocates nothing.
template <class T>
BasicTensor<T> batch_loss(Loss loss, const BasicTensor<T>& pred, const Targets<T>& targets,
                          std::span<const std::int64_t> rows, std::vector<std::int64_t>& labels);
// Correct predictions in a batch (0 for MSE).
template <class T>
std::size_t count_correct(Loss loss, const BasicTensor<T>& pred, std::span<const std::int64_t> rows,
                          std::span<const double> y);
// Mean loss and accuracy (none for MSE) from their sums over `rows` rows.
Evaluation mean_figures(Loss loss, double loss_sum, std::size_t correct, std::size_t rows);

// Where an epoch is, for the progress bar.
struct BatchProgress {
    std::size_t epoch = 1, epochs = 1;  // epoch is 1-based
    std::size_t done = 0, total = 0;    // training rows done in this epoch, of total
    double loss = 0;                    // mean loss so far in this epoch
    double seconds = 0;                 // time since the epoch started
};
// The bar's text for a terminal `columns` wide, at most columns − 1
// characters (writing the last column makes some terminals wrap), e.g. at 80:
//   epoch 3/20 [###########...........]  50% loss 0.1234 00:04<00:04 2500 samples/s
// elapsed<remaining for this epoch, as tqdm prints them. When the line does
// not fit, the speed goes first, then the bar narrows (down to 5 cells) and
// goes, and what is left is cut at the width.
std::string progress_line(const BatchProgress& p, std::size_t columns);
// "00:07", "12:34", "1:02:03"; "?" for a negative or non-finite time.
std::string clock_time(double seconds);
// The width of the terminal `out` writes to (ioctl TIOCGWINSZ), else the
// COLUMNS environment variable, else 80.
std::size_t terminal_columns(std::FILE* out);

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
    // The model's outputs for X [n, d]: [n, ..] (see above).
    template <class Model, class T>
    BasicTensor<T> predict(const Model& model, const BasicTensor<T>& X) const;
    // The predicted class of each row of X (see above); std::invalid_argument
    // for MSE or a custom loss, which have no classes.
    template <class Model, class T>
    std::vector<std::int64_t> predict_classes(const Model& model, const BasicTensor<T>& X) const;

private:
    // The loss whose rules the checks, the split and accuracy follow: MSE's
    // for a custom loss.
    Loss rules() const noexcept { return options_.loss_fn ? Loss::MSE : options_.loss; }
    template <class Model>
    static void set_mode(const Model& model, bool training) {
        if constexpr (requires { model.train(training); }) model.train(training);
    }
    // A batch's loss (recorded, so that a training step can differentiate
    // it) and its correct predictions: the one forward pass of training and
    // evaluation.
    template <class T>
    struct BatchResult {
        BasicTensor<T> loss;
        std::size_t correct;
    };
    template <class Model, class T>
    BatchResult<T> forward(const Model& model, const BasicTensor<T>& X, const detail::Targets<T>& y,
                           std::span<const std::int64_t> rows, std::vector<std::int64_t>& labels) const;
    template <class Model, class T>
    History run(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const detail::Targets<T>& y,
                std::vector<std::int64_t> train_rows, const BasicTensor<T>* X_val, const detail::Targets<T>* y_val,
                std::vector<std::int64_t> val_rows) const;
    template <class Model, class T>
    Evaluation evaluate_rows(const Model& model, const BasicTensor<T>& X, const detail::Targets<T>& y,
                             std::span<const std::int64_t> rows) const;

    TrainOptions options_;
};

// ------------------------------------------------------------ templates ---

template <class Model, class T>
History Trainer::fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y) const {
    const detail::Targets<T> targets = detail::make_targets("Trainer::fit", X.shape(), y, rules());
    std::vector<std::int64_t> train, validation;
    detail::split_rows(static_cast<std::size_t>(X.shape()[0]), targets.values, rules(), options_.validation_fraction,
                       options_.seed, train, validation);
    const bool validate = !validation.empty();  // before `validation` is moved from
    return run(model, optimizer, X, targets, std::move(train), validate ? &X : nullptr, validate ? &targets : nullptr,
               std::move(validation));
}

template <class Model, class T>
History Trainer::fit(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const BasicTensor<T>& y,
                     const BasicTensor<T>& X_val, const BasicTensor<T>& y_val) const {
    const detail::Targets<T> targets = detail::make_targets("Trainer::fit", X.shape(), y, rules());
    const detail::Targets<T> val_targets =
        detail::make_targets("Trainer::fit (validation)", X_val.shape(), y_val, rules());
    return run(model, optimizer, X, targets, detail::all_rows(X.shape()[0]), &X_val, &val_targets,
               detail::all_rows(X_val.shape()[0]));
}

template <class Model, class T>
Evaluation Trainer::evaluate(const Model& model, const BasicTensor<T>& X, const BasicTensor<T>& y) const {
    const detail::Targets<T> targets = detail::make_targets("Trainer::evaluate", X.shape(), y, rules());
    return evaluate_rows(model, X, targets, detail::all_rows(X.shape()[0]));
}

template <class Model, class T>
Trainer::BatchResult<T> Trainer::forward(const Model& model, const BasicTensor<T>& X, const detail::Targets<T>& y,
                                         std::span<const std::int64_t> rows, std::vector<std::int64_t>& labels) const {
    const BasicTensor<T> pred = model(select_rows(X, rows));
    if (options_.loss_fn) {
        const LossFunction::Function<T>& f = options_.loss_fn.template get<T>();
        if (!f)
            throw std::invalid_argument(fmt::format(
                "Trainer: the custom loss (TrainOptions::loss_fn) takes only {} "
                "tensors, and this model's are {}",
                std::same_as<T, float> ? "float64" : "float32", std::same_as<T, float> ? "float32" : "float64"));
        BasicTensor<T> targets = select_rows(y.tensor, rows);
        if (!(targets.shape() == pred.shape()) && targets.numel() == pred.numel())
            targets = reshape(targets, pred.shape());
        BasicTensor<T> loss = f(pred, targets);
        if (loss.numel() != 1)
            throw std::invalid_argument(
                fmt::format("Trainer: the custom loss (TrainOptions::loss_fn) gave a tensor of "
                            "shape {}; it must give one number (a mean or a sum)",
                            loss.shape().str()));
        return {std::move(loss), 0};
    }
    BasicTensor<T> loss = detail::batch_loss(options_.loss, pred, y, rows, labels);
    return {std::move(loss), detail::count_correct(options_.loss, pred, rows, y.values)};
}

template <class Model, class T>
BasicTensor<T> Trainer::predict(const Model& model, const BasicTensor<T>& X) const {
    if (X.shape().rank() != 2 || X.shape()[0] == 0)
        throw std::invalid_argument(
            fmt::format("Trainer::predict: X is {}; expected [rows, features] with at least one row", X.shape().str()));
    set_mode(model, false);
    const std::vector<std::int64_t> rows = detail::all_rows(X.shape()[0]);
    const std::size_t chunk = 1024;
    std::vector<T> out;
    Shape out_shape;
    NoGrad no_grad;
    for (std::size_t start = 0; start < rows.size(); start += chunk) {
        Scope scope;  // the batch's outputs are copied out before it frees them
        const std::span<const std::int64_t> batch(rows.data() + start, std::min(chunk, rows.size() - start));
        const BasicTensor<T> pred = model(select_rows(X, batch));
        const Shape& shape = pred.shape();
        if (shape.rank() == 0 || shape[0] != static_cast<std::int64_t>(batch.size()))
            throw std::invalid_argument(
                fmt::format("Trainer::predict: the model gave {} for a batch of {} rows; "
                            "expected one output row per input row",
                            shape.str(), batch.size()));
        if (start == 0) out_shape = shape;
        const std::span<const T> data = pred.data();
        out.insert(out.end(), data.begin(), data.end());
    }
    out_shape[0] = X.shape()[0];
    return BasicTensor<T>(out_shape, std::span<const T>(out)).set_requires_grad(false);
}

template <class Model, class T>
std::vector<std::int64_t> Trainer::predict_classes(const Model& model, const BasicTensor<T>& X) const {
    const Loss loss = rules();
    if (loss == Loss::MSE)
        throw std::invalid_argument(std::string("Trainer::predict_classes: the trainer's loss is ") +
                                    (options_.loss_fn ? "a custom one" : "mse") +
                                    ", which has no classes (CrossEntropy, BinaryCrossEntropy and Hinge have)");
    const BasicTensor<T> pred = predict(model, X);
    const std::span<const T> p = pred.data();
    const std::size_t n = static_cast<std::size_t>(X.shape()[0]), k = p.size() / n;
    if (loss != Loss::CrossEntropy && k != 1)
        throw std::invalid_argument(
            fmt::format("Trainer::predict_classes: the model gives {}; {} classes need one "
                        "output per row",
                        pred.shape().str(), loss == Loss::Hinge ? "hinge" : "binary cross-entropy"));
    std::vector<std::int64_t> classes(n);
    for (std::size_t i = 0; i < n; ++i) {
        const T* out = p.data() + i * k;
        if (loss == Loss::CrossEntropy)
            classes[i] = static_cast<std::int64_t>(std::max_element(out, out + k) - out);
        else if (loss == Loss::BinaryCrossEntropy)
            classes[i] = out[0] > 0 ? 1 : 0;
        else
            classes[i] = out[0] > 0 ? 1 : -1;
    }
    return classes;
}

template <class Model, class T>
Evaluation Trainer::evaluate_rows(const Model& model, const BasicTensor<T>& X, const detail::Targets<T>& y,
                                  std::span<const std::int64_t> rows) const {
    Distributed* const dist = options_.distributed;
    std::span<const std::int64_t> mine = rows;  // this rank's shard of the rows
    if (dist != nullptr) {
        const Shard s = dist->shard(rows.size());
        mine = rows.subspan(s.begin, s.size());
    }
    set_mode(model, false);
    std::vector<std::int64_t> labels;
    const std::size_t chunk = 1024;
    double figures[2] = {0, 0};  // loss sum, correct
    std::exception_ptr error;
    try {
        NoGrad no_grad;
        for (std::size_t start = 0; start < mine.size(); start += chunk) {
            Scope scope;
            const std::span<const std::int64_t> batch = mine.subspan(start, std::min(chunk, mine.size() - start));
            const BatchResult<T> r = forward(model, X, y, batch, labels);
            figures[0] += r.loss.item() * static_cast<double>(batch.size());
            figures[1] += static_cast<double>(r.correct);
        }
    } catch (...) {
        if (dist == nullptr) throw;
        error = std::current_exception();
    }
    if (dist != nullptr) dist->sum(figures, error);
    return detail::mean_figures(rules(), figures[0], static_cast<std::size_t>(figures[1]), rows.size());
}

template <class Model, class T>
History Trainer::run(const Model& model, Optimizer& optimizer, const BasicTensor<T>& X, const detail::Targets<T>& y,
                     std::vector<std::int64_t> train_rows, const BasicTensor<T>* X_val, const detail::Targets<T>* y_val,
                     std::vector<std::int64_t> val_rows) const {
    const std::size_t n = train_rows.size();
    if (n == 0) throw std::invalid_argument("Trainer::fit: no training rows");
    const std::size_t batch_size = options_.batch_size == 0 ? n : std::min(options_.batch_size, n);
    if (!(options_.clip_grad_norm >= 0.0) || !std::isfinite(options_.clip_grad_norm))
        throw std::invalid_argument(
            fmt::format("Trainer::fit: clip_grad_norm is {}; it must be a finite number > 0, "
                        "or 0 for no clipping",
                        options_.clip_grad_norm));
    Distributed* const dist = options_.distributed;
    constexpr bool has_names = requires { model.named_parameters(); };
    if (!options_.checkpoint.empty() && !has_names)
        throw std::invalid_argument("Trainer::fit: TrainOptions::checkpoint needs a model with named_parameters()");
    if (!options_.checkpoint.empty() && options_.checkpoint_every == 0)
        throw std::invalid_argument("Trainer::fit: checkpoint_every is 0; it counts epochs between checkpoints (>= 1)");
    if (options_.resume && options_.checkpoint.empty())
        throw std::invalid_argument("Trainer::fit: resume needs TrainOptions::checkpoint, the file to resume from");
    // A rank's error, made known to every rank (see nn/distributed.hpp).
    auto settle = [&](std::exception_ptr error) {
        if (dist != nullptr)
            dist->sum({}, error);
        else if (error)
            std::rethrow_exception(error);
    };
    const ParameterList& parameters = optimizer.parameters();
    if (dist != nullptr) {
        const double layout[] = {static_cast<double>(n),
                                 static_cast<double>(X.shape()[1]),
                                 static_cast<double>(val_rows.size()),
                                 static_cast<double>(batch_size),
                                 static_cast<double>(options_.epochs),
                                 static_cast<double>(options_.seed >> 32),
                                 static_cast<double>(options_.seed & 0xffffffffU),
                                 static_cast<double>(options_.shuffle),
                                 static_cast<double>(parameters.size())};
        if (!dist->agree(layout))
            throw std::invalid_argument(fmt::format(
                "Trainer::fit: the ranks differ in their data or options (this rank, {}: {} training rows of {} "
                "features, {} validation rows, batch_size {}, {} epochs, seed {}, shuffle {}, {} parameters); every "
                "rank must call fit() with the same",
                dist->rank(), n, X.shape()[1], val_rows.size(), batch_size, options_.epochs, options_.seed,
                options_.shuffle, parameters.size()));
    }
    std::size_t epochs_done = 0;
    if (options_.resume) {
        std::exception_ptr error;
        try {
            if constexpr (has_names)
                if (std::filesystem::exists(options_.checkpoint))
                    epochs_done = load_checkpoint(model, optimizer, options_.schedule, options_.checkpoint);
        } catch (...) {
            error = std::current_exception();
        }
        settle(error);
    }
    if (dist != nullptr) dist->broadcast_parameters(parameters);  // one start for all, as DDP
    const bool root = dist == nullptr || dist->is_root();
    std::vector<std::int64_t> labels;
    labels.reserve(batch_size);
    Rng rng(options_.seed ^ 0x9e3779b97f4a7c15ULL);  // a stream apart from the split's
    // The epochs a checkpoint covers: their shuffles again, nothing else.
    for (std::size_t epoch = 1; epoch <= epochs_done && options_.shuffle; ++epoch)
        rng.shuffle(std::span<std::int64_t>(train_rows));
    detail::ProgressPrinter progress(root ? options_.progress : Progress::Off, options_.output, options_.epochs);
    History history;
    for (std::size_t epoch = epochs_done + 1; epoch <= options_.epochs; ++epoch) {
        if (options_.shuffle) rng.shuffle(std::span<std::int64_t>(train_rows));
        const auto start_time = std::chrono::steady_clock::now();
        set_mode(model, true);
        EpochStats stats;
        stats.epoch = epoch;
        stats.lr = optimizer.lr();
        double loss_sum = 0;
        std::size_t correct = 0, rows_done = 0;  // this rank's
        for (std::size_t start = 0; start < n; start += batch_size) {
            Scope scope;
            std::span<const std::int64_t> batch(train_rows.data() + start, std::min(batch_size, n - start));
            if (dist == nullptr) {
                const BatchResult<T> r = forward(model, X, y, batch, labels);
                optimizer.zero_grad();
                r.loss.backward();
                if (options_.clip_grad_norm > 0) nn::clip_grad_norm(parameters, options_.clip_grad_norm);
                optimizer.step();
                loss_sum += r.loss.item() * static_cast<double>(batch.size());
                correct += r.correct;
            } else {
                const Shard s = dist->shard(batch.size());
                const std::span<const std::int64_t> mine = batch.subspan(s.begin, s.size());
                std::exception_ptr error;
                double loss = 0;
                std::size_t right = 0;
                try {
                    optimizer.zero_grad();
                    if (!mine.empty()) {
                        const BatchResult<T> r = forward(model, X, y, mine, labels);
                        r.loss.backward();
                        loss = r.loss.item();
                        right = r.correct;
                    }
                } catch (...) {
                    error = std::current_exception();
                }
                dist->average_gradients(parameters, static_cast<double>(mine.size()), error);
                if (options_.clip_grad_norm > 0) nn::clip_grad_norm(parameters, options_.clip_grad_norm);
                optimizer.step();
                loss_sum += loss * static_cast<double>(mine.size());
                correct += right;
                rows_done += mine.size();
            }
            if (root) {
                const double elapsed =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
                const std::size_t done = dist == nullptr ? start + batch.size() : rows_done;
                progress.batch(epoch, start + batch.size(), n, done > 0 ? loss_sum / static_cast<double>(done) : 0.0,
                               elapsed);
            }
        }
        if (dist != nullptr) {
            double figures[] = {loss_sum, static_cast<double>(correct)};
            dist->sum(figures);
            loss_sum = figures[0];
            correct = static_cast<std::size_t>(figures[1]);
        }
        stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
        stats.samples_per_second = stats.seconds > 0 ? static_cast<double>(n) / stats.seconds : 0;
        const Evaluation train = detail::mean_figures(rules(), loss_sum, correct, n);
        stats.loss = train.loss;
        stats.accuracy = train.accuracy;
        if (X_val != nullptr && !val_rows.empty()) {
            const Evaluation v = evaluate_rows(model, *X_val, *y_val, val_rows);
            stats.val_loss = v.loss;
            stats.val_accuracy = v.accuracy;
        }
        history.epochs.push_back(stats);
        progress.epoch(stats);
        if (options_.schedule != nullptr)
            options_.schedule->step(std::isnan(stats.val_loss) ? stats.loss : stats.val_loss);
        if (!options_.checkpoint.empty() && (epoch % options_.checkpoint_every == 0 || epoch == options_.epochs)) {
            std::exception_ptr error;
            if (root) {
                try {
                    if constexpr (has_names)
                        save_checkpoint(model, optimizer, epoch, options_.schedule, options_.checkpoint);
                } catch (...) {
                    error = std::current_exception();
                }
            }
            settle(error);
        }
        if (dist == nullptr) {
            if (options_.on_epoch && !options_.on_epoch(stats)) break;
        } else {
            std::exception_ptr error;
            double stop[] = {0};
            try {
                if (options_.on_epoch && !options_.on_epoch(stats)) stop[0] = 1;
            } catch (...) {
                error = std::current_exception();
            }
            dist->sum(stop, error);
            if (stop[0] > 0) break;
        }
    }
    set_mode(model, false);
    return history;
}

}  // namespace ag::nn
