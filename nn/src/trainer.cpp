#include <nn/trainer.hpp>

#include <nn/data.hpp>
#include <nn/losses.hpp>

#include <fmt/format.h>

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <numeric>
#include <stdexcept>

namespace ag::nn::detail {

namespace {
const char* loss_name(Loss loss) {
    switch (loss) {
        case Loss::CrossEntropy: return "cross-entropy";
        case Loss::MSE: return "mse";
        case Loss::BinaryCrossEntropy: return "binary cross-entropy";
        case Loss::Hinge: return "hinge";
    }
    return "?";
}

void check_training_data(const char* who, const Shape& x, const Shape& y, Loss loss, std::span<const double> y_values) {
    if (x.rank() != 2) throw std::invalid_argument(fmt::format("{}: X is {}; expected [rows, features]", who, x.str()));
    // A mean over no rows would be NaN, reported as a loss without an error.
    if (x[0] == 0) throw std::invalid_argument(fmt::format("{}: X is {}: there are no rows", who, x.str()));
    if (y.rank() == 0 || y[0] != x[0])
        throw std::invalid_argument(
            fmt::format("{}: X is {} but y is {}: they need the same number of rows", who, x.str(), y.str()));
    for (std::size_t i = 0; i < y_values.size(); ++i) {
        const double t = y_values[i];
        const bool ok = loss == Loss::CrossEntropy         ? ag::nn::is_class_index(t)
                        : loss == Loss::Hinge              ? (t == 1.0 || t == -1.0)
                        : loss == Loss::BinaryCrossEntropy ? (t >= 0 && t <= 1)
                                                           : std::isfinite(t);
        if (!ok) {
            const char* expected = loss == Loss::CrossEntropy         ? "a class index (a whole number >= 0)"
                                   : loss == Loss::Hinge              ? "-1 or +1"
                                   : loss == Loss::BinaryCrossEntropy ? "in [0, 1]"
                                                                      : "a finite number";
            throw std::invalid_argument(fmt::format("{}: {} loss: target {} (element {} of y) is not {}", who,
                                                    loss_name(loss), t, i, expected));
        }
    }
    if (loss == Loss::CrossEntropy && y.rank() != 1)
        throw std::invalid_argument(
            fmt::format("{}: cross-entropy needs y [rows] of class indices, got {}", who, y.str()));
}

}  // namespace

template <class T>
Targets<T> make_targets(const char* who, const Shape& x, const BasicTensor<T>& y, Loss loss) {
    Targets<T> targets{.tensor = y, .values = std::vector<double>(y.data().begin(), y.data().end()), .labels = {}};
    check_training_data(who, x, y.shape(), loss, targets.values);
    if (loss == Loss::CrossEntropy) {
        targets.labels.reserve(targets.values.size());
        for (double t : targets.values) targets.labels.push_back(static_cast<std::int64_t>(t));
    }
    return targets;
}

std::vector<std::int64_t> all_rows(std::int64_t n) {
    std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
    std::iota(rows.begin(), rows.end(), std::int64_t{0});
    return rows;
}

void split_rows(std::size_t n, std::span<const double> y, Loss loss, double fraction, std::uint64_t seed,
                std::vector<std::int64_t>& train, std::vector<std::int64_t>& validation) {
    if (!(fraction >= 0.0 && fraction < 1.0))
        throw std::invalid_argument(fmt::format("Trainer::fit: validation_fraction {} is not in [0, 1)", fraction));
    validation.clear();
    if (fraction == 0.0) {
        train = all_rows(static_cast<std::int64_t>(n));
        return;
    }
    // Stratified by label for classification with one whole-number label
    // per row (class indices, 0/1, ±1); else one group: soft targets in
    // [0, 1] would make each distinct value a group of its own.
    const bool stratify = loss != Loss::MSE && y.size() == n &&
                          std::all_of(y.begin(), y.end(), [](double t) { return t == std::floor(t); });
    Rng rng(seed);
    const RowSplit rows = stratified_split(n, stratify ? y : std::span<const double>(), fraction, rng);
    if (rows.kept.empty() || rows.held_out.empty())
        throw std::invalid_argument(
            fmt::format("Trainer::fit: validation_fraction {} of {} rows gives {} training and {} validation rows; "
                        "each part needs at least one",
                        fraction, n, rows.kept.size(), rows.held_out.size()));
    train.assign(rows.kept.begin(), rows.kept.end());
    validation.assign(rows.held_out.begin(), rows.held_out.end());
}

template <class T>
BasicTensor<T> batch_loss(Loss loss, const BasicTensor<T>& pred, const Targets<T>& targets,
                          std::span<const std::int64_t> rows, std::vector<std::int64_t>& labels) {
    if (loss == Loss::CrossEntropy) {
        labels.clear();
        for (std::int64_t r : rows) labels.push_back(targets.labels[static_cast<std::size_t>(r)]);
        return cross_entropy(pred, labels);
    }
    // y [n] against an output [n, 1]: the same numbers, reshaped.
    BasicTensor<T> t = select_rows(targets.tensor, rows);
    if (!(t.shape() == pred.shape()) && t.numel() == pred.numel()) t = reshape(t, pred.shape());
    switch (loss) {
        case Loss::MSE: return mse_loss(pred, t);
        case Loss::BinaryCrossEntropy: return binary_cross_entropy_with_logits(pred, t);
        case Loss::Hinge: return hinge(pred, t);
        case Loss::CrossEntropy: break;
    }
    return t;
}

template <class T>
std::size_t count_correct(Loss loss, const BasicTensor<T>& pred, std::span<const std::int64_t> rows,
                          std::span<const double> y) {
    if (loss == Loss::MSE || rows.empty()) return 0;
    const std::span<const T> p = pred.data();
    const std::size_t k = p.size() / rows.size();  // outputs per row
    std::size_t correct = 0;
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const auto row = static_cast<std::size_t>(rows[i]);
        const T* out = p.data() + i * k;
        if (loss == Loss::CrossEntropy) {
            std::size_t best = 0;
            for (std::size_t c = 1; c < k; ++c)
                if (out[c] > out[best]) best = c;
            correct += static_cast<double>(best) == y[row] ? 1 : 0;
            continue;
        }
        // One target per output: a row counts when every output is on the right side.
        const double threshold = loss == Loss::BinaryCrossEntropy ? 0.5 : 0.0;
        bool all = true;
        for (std::size_t j = 0; j < k; ++j) all = all && ((out[j] > 0) == (y[row * k + j] > threshold));
        correct += all ? 1 : 0;
    }
    return correct;
}

template Targets<double> make_targets(const char*, const Shape&, const Tensor&, Loss);
template Targets<float> make_targets(const char*, const Shape&, const Tensor32&, Loss);
template Tensor batch_loss(Loss, const Tensor&, const Targets<double>&, std::span<const std::int64_t>,
                           std::vector<std::int64_t>&);
template Tensor32 batch_loss(Loss, const Tensor32&, const Targets<float>&, std::span<const std::int64_t>,
                             std::vector<std::int64_t>&);
template std::size_t count_correct(Loss, const Tensor&, std::span<const std::int64_t>, std::span<const double>);
template std::size_t count_correct(Loss, const Tensor32&, std::span<const std::int64_t>, std::span<const double>);

Evaluation mean_figures(Loss loss, double loss_sum, std::size_t correct, std::size_t rows) {
    Evaluation e;
    e.loss = loss_sum / static_cast<double>(rows);
    if (loss != Loss::MSE) e.accuracy = static_cast<double>(correct) / static_cast<double>(rows);
    return e;
}

// -------------------------------------------------------------- progress ---

ProgressPrinter::ProgressPrinter(Progress mode, std::FILE* out, std::size_t epochs) : out_(out), epochs_(epochs) {
    if (mode == Progress::Auto) mode = (out != nullptr && ::isatty(::fileno(out))) ? Progress::Bar : Progress::Lines;
    on_ = mode != Progress::Off && out != nullptr;
    bar_ = mode == Progress::Bar;
}

std::string clock_time(double seconds) {
    if (!(seconds >= 0) || !std::isfinite(seconds) || seconds > 1e9) return "?";
    const auto s = static_cast<std::uint64_t>(seconds);
    if (s < 3600) return fmt::format("{:02}:{:02}", s / 60, s % 60);
    return fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60);
}

std::string progress_line(const BatchProgress& p, std::size_t columns) {
    const std::size_t done = std::min(p.done, p.total);
    const std::size_t percent = p.total == 0 ? 100 : 100 * done / p.total;
    // The rest of the epoch at the speed so far; unknown ("?") before the first batch.
    const double remaining =
        done == 0 ? -1.0 : p.seconds * static_cast<double>(p.total - done) / static_cast<double>(done);
    const std::string head = fmt::format("epoch {}/{} ", p.epoch, p.epochs);
    const std::string tail =
        fmt::format(" {:3}% loss {:.4f} {}<{}", percent, p.loss, clock_time(p.seconds), clock_time(remaining));
    std::string speed = fmt::format(" {:.0f} samples/s", p.seconds > 0 ? static_cast<double>(p.done) / p.seconds : 0.0);
    const std::size_t width = columns > 1 ? columns - 1 : 1;
    constexpr std::size_t widest_bar = 30, narrowest_bar = 5, bar_before_speed = 10;
    auto room = [&] {  // cells left for the bar between its brackets
        const std::size_t used = head.size() + 2 + tail.size() + speed.size();
        return width > used ? width - used : 0;
    };
    if (room() < bar_before_speed) speed.clear();
    std::string line = head;
    if (const std::size_t cells = std::min(room(), widest_bar); cells >= narrowest_bar) {
        const std::size_t filled = p.total == 0 ? cells : cells * done / p.total;
        line += fmt::format("[{}{}]", std::string(filled, '#'), std::string(cells - filled, '.'));
    } else {
        line.pop_back();  // the space before the bar
    }
    line += tail + speed;
    if (line.size() > width) line.resize(width);
    return line;
}

std::size_t terminal_columns(std::FILE* out) {
    winsize w{};
    if (out != nullptr && ::ioctl(::fileno(out), TIOCGWINSZ, &w) == 0 && w.ws_col > 0) return w.ws_col;
    if (const char* env = std::getenv("COLUMNS")) {
        std::size_t n = 0;
        const std::string_view text(env);
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
        if (ec == std::errc() && end == text.data() + text.size() && n > 0) return n;
    }
    return 80;
}

void ProgressPrinter::batch(std::size_t epoch, std::size_t done, std::size_t total, double loss, double seconds) {
    if (!on_ || !bar_) return;
    // Redraw at most 20 times a second, and at the end of the epoch.
    const auto now = std::chrono::steady_clock::now();
    if (done < total && now - last_draw_ < std::chrono::milliseconds(50)) return;
    last_draw_ = now;
    // The width is asked at every redraw: the terminal may be resized.
    const std::string line = progress_line(
        {.epoch = epoch, .epochs = epochs_, .done = done, .total = total, .loss = loss, .seconds = seconds},
        terminal_columns(out_));
    fmt::print(out_, "\r\033[K{}", line);
    std::fflush(out_);
}

void ProgressPrinter::epoch(const EpochStats& s) {
    if (!on_) return;
    std::string line = fmt::format("epoch {}/{}: loss {:.4f}", s.epoch, epochs_, s.loss);
    if (!std::isnan(s.accuracy)) line += fmt::format(", accuracy {:.2f}%", 100 * s.accuracy);
    if (!std::isnan(s.val_loss)) line += fmt::format(", val_loss {:.4f}", s.val_loss);
    if (!std::isnan(s.val_accuracy)) line += fmt::format(", val_accuracy {:.2f}%", 100 * s.val_accuracy);
    line += fmt::format(", {:.3f} s, {:.0f} samples/s", s.seconds, s.samples_per_second);
    fmt::print(out_, "{}{}\n", bar_ ? "\r\033[K" : "", line);
    std::fflush(out_);
}

}  // namespace ag::nn::detail

namespace ag::nn {

std::string History::csv() const {
    auto field = [](double x) { return std::isnan(x) ? std::string() : fmt::format("{}", x); };
    std::string s = "epoch,loss,accuracy,val_loss,val_accuracy,lr,seconds\n";
    for (const EpochStats& e : epochs)
        s += fmt::format("{},{},{},{},{},{},{}\n", e.epoch, e.loss, field(e.accuracy), field(e.val_loss),
                         field(e.val_accuracy), e.lr, e.seconds);
    return s;
}

void History::write_csv(const std::filesystem::path& path) const {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) throw std::runtime_error(fmt::format("History::write_csv: cannot create '{}'", path.string()));
    const std::string text = csv();
    const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    if (std::fclose(f) != 0 || !ok)
        throw std::runtime_error(fmt::format("History::write_csv: writing '{}' failed", path.string()));
}

}  // namespace ag::nn
