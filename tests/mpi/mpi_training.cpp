// Data-parallel training through MPI, one scenario per run, started by
// tests/mpi/run_mpi.cmake under mpirun (see tests/mpi/tests.cmake):
//   equality BATCH   Trainer and a hand-written loop on N ranks against one
//                    process on the whole batch (each rank computes that
//                    reference itself): parameters within 1e-12 relative,
//                    the same bits on every rank
//   resume DIR       4 epochs straight against 2 epochs, a checkpoint, and
//                    a fresh model and optimizer resuming to 4: the same bits
//   throw            rank 1's forward pass throws in epoch 1: every rank
//                    ends with an error naming it
//   die              rank 1 exits in the middle of training: mpirun ends the job
//   hang             rank 1 stops answering: the others' timeout (2 s) ends the job
// Exit status 0 when every rank's checks pass.
#include <nn/mpi.hpp>
#include <nn/nn.hpp>

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>
#include <thread>

using namespace ag::nn;

namespace {

std::vector<double> values_of(const std::vector<NamedParameter>& ps) {
    std::vector<double> v;
    for (const NamedParameter& p : ps)
        for (double x : p.values()) v.push_back(x);
    return v;
}

double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return a.size() == b.size() ? diff / scale : INFINITY;
}

struct Setup {
    Dataset data = make_spirals(300, 0.2, 3, 3);
    ag::Tensor X = features_tensor(data), y = labels_tensor(data);
};

// Trainer: Adam, cosine schedule, validation split; `dist` null for one process.
std::vector<double> fit(const Setup& s, std::size_t batch, std::size_t epochs, Distributed* dist,
                        const std::filesystem::path& checkpoint = {}, bool resume = false) {
    const TensorMLP model(2, {24, 3}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 5});
    Adam adam(model.parameters(), {.lr = 0.01});
    CosineLR schedule(adam, {.t_max = 4});
    const Trainer trainer({.epochs = epochs,
                           .batch_size = batch,
                           .validation_fraction = 0.2,
                           .seed = 11,
                           .schedule = &schedule,
                           .progress = Progress::Off,
                           .distributed = dist,
                           .checkpoint = checkpoint,
                           .resume = resume});
    trainer.fit(model, adam, s.X, s.y);
    return values_of(model.named_parameters());
}

// A loop of one's own: SGD on the mean squared error of a Linear layer, in
// batches of `batch` rows; the rank's shard of each when `dist` is given.
std::vector<double> custom_loop(const Setup& s, std::size_t batch, Distributed* dist) {
    const Linear layer(2, 3, Init::Xavier, 7);
    SGD sgd(layer.parameters(), {.lr = 0.1, .momentum = 0.9});
    const std::vector<double> labels(s.y.data().begin(), s.y.data().end());
    const auto n = static_cast<std::size_t>(s.X.shape()[0]);
    for (std::size_t start = 0; start < n; start += batch) {
        ag::Scope scope;
        const std::size_t rows = std::min(batch, n - start);
        const Shard mine = dist ? dist->shard(rows) : Shard{0, rows};
        std::vector<std::int64_t> index, targets;
        for (std::size_t i = start + mine.begin; i < start + mine.end; ++i)
            index.push_back(static_cast<std::int64_t>(i));
        for (std::int64_t i : index) targets.push_back(static_cast<std::int64_t>(labels[static_cast<std::size_t>(i)]));
        sgd.zero_grad();
        if (!index.empty())
            ag::cross_entropy(layer(ag::select_rows(s.X, std::span<const std::int64_t>(index))),
                              std::span<const std::int64_t>(targets))
                .backward();
        if (dist) dist->average_gradients(sgd.parameters(), static_cast<double>(mine.size()));
        sgd.step();
    }
    return values_of(layer.named_parameters());
}

int equality(MpiDistributed& dist, std::size_t batch) {
    const Setup s;
    bool ok = true;
    const std::vector<double> one = fit(s, batch, 3, nullptr), many = fit(s, batch, 3, &dist);
    const double d = relative_difference(many, one);
    const bool same_bits = dist.agree(std::span<const double>(many));
    fmt::print("rank {} of {}: Trainer, batch {}: relative difference from one process {:.3g}, ranks {}\n", dist.rank(),
               dist.size(), batch, d, same_bits ? "identical" : "DIFFER");
    ok = ok && d <= 1e-12 && same_bits;
    const std::vector<double> loop_one = custom_loop(s, batch, nullptr), loop_many = custom_loop(s, batch, &dist);
    const double dl = relative_difference(loop_many, loop_one);
    const bool loop_same = dist.agree(std::span<const double>(loop_many));
    fmt::print("rank {} of {}: hand loop, batch {}: relative difference {:.3g}, ranks {}\n", dist.rank(), dist.size(),
               batch, dl, loop_same ? "identical" : "DIFFER");
    ok = ok && dl <= 1e-12 && loop_same;
    double failures[] = {ok ? 0.0 : 1.0};
    dist.sum(failures);
    return failures[0] == 0 ? 0 : 1;
}

int resume(MpiDistributed& dist, const std::filesystem::path& dir) {
    const Setup s;
    const auto path = dir / fmt::format("mpi_resume_np{}.ckpt", dist.size());
    if (dist.is_root()) std::filesystem::remove(path);
    double sync[] = {0};
    dist.sum(sync);  // the old file is gone before anyone looks
    const std::vector<double> whole = fit(s, 32, 4, &dist);
    (void)fit(s, 32, 2, &dist, path);  // stops after epoch 2, with a checkpoint
    const std::vector<double> resumed = fit(s, 32, 4, &dist, path, true);
    const bool ok = resumed == whole && dist.agree(std::span<const double>(resumed));
    fmt::print("rank {} of {}: resumed from epoch 2 of 4: {}\n", dist.rank(), dist.size(),
               resumed == whole ? "the same bits as uninterrupted" : "DIFFERENT");
    double failures[] = {ok ? 0.0 : 1.0};
    dist.sum(failures);
    return failures[0] == 0 ? 0 : 1;
}

// Trains with a model that misbehaves on rank 1 at its third batch.
int misbehave(MpiDistributed& dist, const std::string& how) {
    const Setup s;
    const TensorMLP mlp(2, {24, 3}, {.seed = 5});
    int calls = 0;
    auto model = [&](const ag::Tensor& x) {
        if (dist.rank() == 1 && ++calls == 3) {
            if (how == "throw") throw std::runtime_error("injected failure");
            if (how == "die") std::_Exit(3);
            std::this_thread::sleep_for(std::chrono::seconds(100));  // hang
        }
        return mlp(x);
    };
    SGD sgd(mlp.parameters(), 0.1);
    Trainer({.epochs = 3, .batch_size = 32, .progress = Progress::Off, .distributed = &dist}).fit(model, sgd, s.X, s.y);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string scenario = argc > 1 ? argv[1] : "";
    MpiDistributed dist(argc, argv, {.timeout_seconds = scenario == "hang" ? 2.0 : 60.0});
    try {
        if (scenario == "equality" && argc > 2) return equality(dist, std::stoul(argv[2]));
        if (scenario == "resume" && argc > 2) return resume(dist, argv[2]);
        if (scenario == "throw" || scenario == "die" || scenario == "hang") return misbehave(dist, scenario);
        fmt::print(stderr, "usage: mpirun -np N {} equality BATCH | resume DIR | throw | die | hang\n", argv[0]);
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "rank {} of {}: error: {}\n", dist.rank(), dist.size(), e.what());
        return 1;
    }
}
