// Data-parallel training steps per second over MPI ranks, and the time in
// gradient averaging (MPI_Iallreduce of parameters × 8 bytes), for the
// medium MLP 784-512-256-10 (float64, relu, SGD) at a fixed global batch:
//     mpirun -np 4 --oversubscribe build/benchmarks/mpi_scaling [--batch 256] [--steps 30]
// `cmake --build build --target run_mpi_benchmark` runs it with 1, 2 and 4
// ranks. Rank 0 prints one line; benchmarks/README.md has the figures and
// what they predict for 8 to 64 nodes.
#include <nn/mpi.hpp>
#include <nn/nn.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
    ag::nn::MpiDistributed dist(argc, argv);
    std::size_t batch = 256, steps = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--batch") batch = std::stoul(argv[i + 1]);
        if (flag == "--steps") steps = std::stoul(argv[i + 1]);
    }
    const std::size_t rows = 4096, features = 784, classes = 10;
    ag::Rng rng(1);
    std::vector<double> pixels(rows * features);
    for (double& p : pixels) p = rng.uniform();
    std::vector<std::int64_t> labels(rows);
    for (auto& l : labels) l = static_cast<std::int64_t>(rng.below(classes));
    const ag::Tensor X = ag::Tensor({static_cast<std::int64_t>(rows), static_cast<std::int64_t>(features)},
                                    std::span<const double>(pixels))
                             .set_requires_grad(false);
    const ag::nn::TensorMLP model(features, {512, 256, classes}, {.init = ag::nn::Init::He, .seed = 1});
    ag::nn::SGD sgd(model.parameters(), {.lr = 0.01, .momentum = 0.9});
    std::vector<std::int64_t> index, targets;

    auto step = [&](std::size_t k) {
        ag::Scope scope;
        const std::size_t start = (k * batch) % (rows - batch + 1);
        const ag::nn::Shard mine = dist.shard(batch);
        index.clear();
        targets.clear();
        for (std::size_t i = start + mine.begin; i < start + mine.end; ++i) {
            index.push_back(static_cast<std::int64_t>(i));
            targets.push_back(labels[i]);
        }
        sgd.zero_grad();
        if (!index.empty())
            ag::cross_entropy(model(ag::select_rows(X, std::span<const std::int64_t>(index))),
                              std::span<const std::int64_t>(targets))
                .backward();
        dist.average_gradients(sgd.parameters(), static_cast<double>(mine.size()));
        sgd.step();
    };
    for (std::size_t k = 0; k < 3; ++k) step(k);  // warm-up: arena, buffers, MPI connections
    double sync[] = {0};
    dist.sum(sync);
    const double comm_before = dist.communication_seconds();
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t k = 0; k < steps; ++k) step(k);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double comm = dist.communication_seconds() - comm_before;
    // The slowest rank sets the pace: report rank 0 and the ranks' mean.
    double figures[] = {seconds, comm};
    dist.sum(figures);
    if (dist.is_root()) {
        const double n = static_cast<double>(steps), r = dist.size();
        const std::size_t params = sgd.parameters().size();
        fmt::print(
            "ranks {}  global batch {} ({} rows/rank)  params {} ({:.2f} MB/step reduced)  steps/s {:.1f}  "
            "ms/step {:.2f}  in allreduce {:.2f} ms/step ({:.0f}%)  compute {:.2f} ms/step\n",
            dist.size(), batch, batch / static_cast<std::size_t>(dist.size()), params, params * 8e-6, n / seconds,
            1e3 * seconds / n, 1e3 * figures[1] / r / n, 100 * figures[1] / figures[0],
            1e3 * (figures[0] - figures[1]) / r / n);
    }
}
