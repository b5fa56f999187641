#pragma once
// Printing and pictures for the classifier examples (6 and 7).
#include "examples/classify.hpp"
#include "examples/svg.hpp"

#include <fmt/format.h>

#include <cmath>
#include <string>
#include <vector>

namespace examples {

inline std::string join_counts(const std::vector<std::size_t>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += fmt::format("{}{}", i ? " " : "", v[i]);
    return s;
}

inline void print_classifier(const ClassifierFigures& r, bool every_epoch = true) {
    const ClassifierSetup& s = r.setup;
    fmt::print("{}: {} rows, {} features, {} classes; stratified split {} train / {} test\n", s.name, r.rows,
               r.features, r.classes, r.train_rows, r.test_rows);
    fmt::print("  per class, train: {}\n  per class, test:  {}\n", join_counts(r.train_per_class),
               join_counts(r.test_per_class));
    fmt::print("features standardized with the training part's mean and standard deviation\n");
    fmt::print("{}\n", r.model);
    fmt::print("cross-entropy, Adam lr {}{}{}, mini-batches of {}, {} epochs, seed {}\n\n", s.lr,
               s.cosine_schedule ? " (cosine decay to 0)" : "",
               s.weight_decay > 0 ? fmt::format(", weight decay {}", s.weight_decay) : "", s.batch_size, s.epochs,
               s.seed);
    fmt::print("{:>5} {:>11} {:>10} {:>10} {:>9}\n", "epoch", "train loss", "train acc", "test loss", "test acc");
    const auto& h = r.history.epochs;
    for (std::size_t e = 0; e < h.size(); ++e)
        if (every_epoch || e < 3 || (e + 1) % 10 == 0 || e + 1 == h.size())
            fmt::print("{:>5} {:>11.5f} {:>9.2f}% {:>10.5f} {:>8.2f}%\n", h[e].epoch, h[e].loss, 100 * h[e].accuracy,
                       h[e].val_loss, 100 * h[e].val_accuracy);
    fmt::print("\ntest accuracy {:.2f}% ({} of {}), test loss {:.5f}; training took {:.2f} s\n", 100 * r.test_accuracy,
               static_cast<std::size_t>(std::lround(r.test_accuracy * static_cast<double>(r.test_rows))), r.test_rows,
               r.test_loss, r.train_seconds);

    fmt::print("\nconfusion matrix on the test part (rows: true class, columns: predicted)\n{:>6}", "");
    for (std::size_t c = 0; c < r.classes; ++c) fmt::print("{:>5}", c);
    fmt::print("\n");
    for (std::size_t t = 0; t < r.classes; ++t) {
        fmt::print("{:>6}", t);
        for (std::size_t p = 0; p < r.classes; ++p)
            fmt::print("{:>5}", r.confusion[t][p] == 0 && t != p ? "." : fmt::format("{}", r.confusion[t][p]));
        fmt::print("\n");
    }
}

inline void print_repeated_splits(const std::string& name, const RepeatedSplits& r) {
    fmt::print("{}: test accuracy over {} stratified splits (seeds {}..{}):", name, r.seeds.size(), r.seeds.front(),
               r.seeds.back());
    for (double a : r.test_accuracy) fmt::print(" {:.1f}", 100 * a);
    fmt::print("\n  mean {:.2f}%, min {:.2f}%, max {:.2f}%\n", 100 * r.mean, 100 * r.min, 100 * r.max);
}

// <out_dir>/<name>_loss.svg and <name>_accuracy.svg: train and test curves.
inline std::vector<std::string> plot_classifier(const ClassifierFigures& r, const std::string& out_dir) {
    std::vector<double> epoch, loss, val_loss, acc, val_acc;
    for (const auto& e : r.history.epochs) {
        epoch.push_back(static_cast<double>(e.epoch));
        loss.push_back(e.loss);
        val_loss.push_back(e.val_loss);
        acc.push_back(100 * e.accuracy);
        val_acc.push_back(100 * e.val_accuracy);
    }
    const svg::Range x{1, std::max(2.0, epoch.back())};
    svg::Plot lp(fmt::format("{}: cross-entropy loss", r.setup.name), "epoch", "loss", x,
                 svg::range_of({loss, val_loss}));
    lp.line(epoch, loss, "#1f77b4", "train");
    lp.line(epoch, val_loss, "#d62728", "test");
    svg::Plot ap(fmt::format("{}: accuracy", r.setup.name), "epoch", "accuracy (%)", x, svg::range_of({acc, val_acc}));
    ap.legend_at_bottom();
    ap.line(epoch, acc, "#1f77b4", "train");
    ap.line(epoch, val_acc, "#d62728", "test");
    const std::vector<std::string> paths = {out_dir + "/" + r.setup.name + "_loss.svg",
                                            out_dir + "/" + r.setup.name + "_accuracy.svg"};
    lp.save(paths[0]);
    ap.save(paths[1]);
    return paths;
}

}  // namespace examples
