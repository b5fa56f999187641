// Example 6 across processes: the digits example (tensor MLP 64-128-10,
// Adam, batches of 32) trained data-parallel over MPI, each rank on its
// shard of every batch, then compared with one process training alone:
//     mpirun -np 4 --oversubscribe build/examples/digits_distributed
// Rank 0 prints the test accuracy of both runs and the largest difference
// between their final parameters, relative to the largest parameter; the
// program fails (exit 1) if that exceeds 1e-12 or accuracy is below 97%.
#include "examples/classify_report.hpp"

#include <nn/mpi.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>

int main(int argc, char** argv) {
    ag::nn::MpiDistributed dist(argc, argv);
    CLI::App app("Handwritten digits, data-parallel over MPI ranks, against one process");
    examples::ClassifierSetup setup = examples::digits_setup(std::string(TAPEGRAD_EXAMPLES_DIR) + "/data");
    app.add_option("--data", setup.path, "the digits CSV (.csv or .csv.gz)");
    app.add_option("--epochs", setup.epochs, "epochs")->check(CLI::PositiveNumber);
    app.add_option("--seed", setup.seed, "seed of the split, the weights and the shuffles");
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        return dist.is_root() ? app.exit(e) : (e.get_exit_code() == 0 ? 0 : 2);
    }
    try {
        setup.distributed = &dist;
        const auto start = std::chrono::steady_clock::now();
        const examples::ClassifierFigures many = examples::train_classifier(setup);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (!dist.is_root()) return 0;
        // The reference: the same training in this one process alone.
        setup.distributed = nullptr;
        const examples::ClassifierFigures one = examples::train_classifier(setup);
        double diff = 0, scale = 0;
        for (std::size_t i = 0; i < one.final_parameters.size(); ++i) {
            diff = std::max(diff, std::abs(many.final_parameters[i] - one.final_parameters[i]));
            scale = std::max(scale, std::abs(one.final_parameters[i]));
        }
        const double relative = diff / scale;
        fmt::print("digits: {} rows ({} train, {} test), model {}\n", many.rows, many.train_rows, many.test_rows,
                   many.model.substr(0, many.model.find('\n')));
        fmt::print("{} rank{}: {} epochs of batches of {} rows ({} per rank or so), {:.2f} s\n", dist.size(),
                   dist.size() == 1 ? "" : "s", setup.epochs, setup.batch_size, setup.batch_size / dist.size(),
                   seconds);
        fmt::print("test accuracy, {} rank{}: {:.2f}%   one process: {:.2f}%\n", dist.size(),
                   dist.size() == 1 ? "" : "s", 100 * many.test_accuracy, 100 * one.test_accuracy);
        fmt::print("final parameters: largest difference from one process {:.3g} of the largest parameter ({:.3g})\n",
                   relative, scale);
        fmt::print("time in gradient averaging and other collective calls on rank 0: {:.3f} s in {} calls\n",
                   dist.communication_seconds(), dist.collective_calls());
        if (relative > 1e-12 || many.test_accuracy < 0.97) {
            fmt::print(stderr, "digits_distributed: expected a difference <= 1e-12 and accuracy >= 97%\n");
            return 1;
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "digits_distributed: rank {} of {}: {}\n", dist.rank(), dist.size(), e.what());
        return 1;
    }
}
