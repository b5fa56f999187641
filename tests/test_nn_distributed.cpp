// Data-parallel training (nn/distributed.hpp) with ranks as threads
// (tests/thread_ranks.hpp), so that it is tested in every build, MPI or
// not; tests/mpi/ runs the same through MPI under mpirun.
#include "tests/thread_ranks.hpp"

#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>

using namespace ag::nn;
using tests::ThreadRank;
using tests::ThreadRanks;

namespace {

std::string message_of(std::exception_ptr e) {
    try {
        std::rethrow_exception(e);
    } catch (const std::exception& x) {
        return x.what();
    }
}

// max |a - b| / max |b| over all parameters.
double relative_difference(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double diff = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        diff = std::max(diff, std::abs(a[i] - b[i]));
        scale = std::max(scale, std::abs(b[i]));
    }
    return diff / scale;
}

template <class Model>
std::vector<double> values_of(const Model& m) {
    std::vector<double> v;
    for (const NamedParameter& p : m.named_parameters())
        for (double x : p.values()) v.push_back(x);
    return v;
}

}  // namespace

TEST_CASE("Shards: rank r of R takes rows r n / R to (r + 1) n / R, sizes within one, covering the batch") {
    ThreadRanks group(3);
    std::vector<Shard> shards(3);
    group.run([&](ThreadRank& d) {
        shards[static_cast<std::size_t>(d.rank())] = d.shard(32);
        CHECK(d.shard(2, 0).size() == 0);
        CHECK(d.shard(2, 1).begin == 0);
        CHECK(d.shard(2, 1).end == 1);
        CHECK(d.shard(2, 2).begin == 1);
        CHECK(d.shard(2, 2).end == 2);
    });
    CHECK(shards[0].begin == 0);
    CHECK(shards[0].end == 10);
    CHECK(shards[1].begin == 10);
    CHECK(shards[1].end == 21);
    CHECK(shards[2].begin == 21);
    CHECK(shards[2].end == 32);
}

TEST_CASE("average_gradients: the weighted mean sum w_r g_r / sum w_r over Values, float64 and float32 tensors") {
    for (std::size_t bucket_bytes : {std::size_t{25} << 20, std::size_t{8}, std::size_t{24}}) {
        CAPTURE(bucket_bytes);
        ThreadRanks group(3);
        std::vector<std::vector<double>> got(3);
        group.run(
            [&](ThreadRank& d) {
                const double r = d.rank();
                const ag::Value v(0.0);
                const ag::Tensor t({3}, {0, 0, 0});
                const ag::Tensor32 f({2}, {0, 0});
                // Rank 2 has weight 0: its gradients (NaN here) are not read.
                const double nan = std::numeric_limits<double>::quiet_NaN();
                v.set_grad(d.rank() == 2 ? nan : r + 1);
                for (int i = 0; i < 3; ++i)
                    t.grad()[static_cast<std::size_t>(i)] = d.rank() == 2 ? nan : (r + 1) * (i + 1);
                for (int i = 0; i < 2; ++i)
                    f.grad()[static_cast<std::size_t>(i)] = d.rank() == 2 ? NAN : static_cast<float>(10 * (r + 1) + i);
                ParameterList list(std::vector<ag::Value>{v});
                list.add(t);
                list.add(f);
                d.average_gradients(list, d.rank() == 0 ? 1.0 : d.rank() == 1 ? 2.0 : 0.0);
                auto& out = got[static_cast<std::size_t>(d.rank())];
                out.push_back(v.grad());
                for (double g : t.grad()) out.push_back(g);
                for (float g : f.grad()) out.push_back(g);
            },
            {.bucket_bytes = bucket_bytes});
        for (auto e : group.errors()) REQUIRE_MESSAGE(!e, message_of(e));
        // (1·g_0 + 2·g_1) / 3 with g_r = (r + 1)·base: (1 + 4) / 3 · base.
        const std::vector<double> expected = {
            5.0 / 3, 5.0 / 3, 10.0 / 3, 15.0 / 3, (10 + 2 * 20) / 3.0, (11 + 2 * 21) / 3.0};
        for (int r = 0; r < 3; ++r) {
            CAPTURE(r);
            REQUIRE(got[static_cast<std::size_t>(r)].size() == expected.size());
            for (std::size_t i = 0; i < expected.size(); ++i) {
                const double tol = i >= 4 ? 1e-6 : 1e-15;  // float32 for the last two
                CHECK(std::abs(got[static_cast<std::size_t>(r)][i] - expected[i]) <= tol * std::abs(expected[i]));
            }
            CHECK(got[static_cast<std::size_t>(r)] == got[0]);  // the same bits on every rank
        }
    }
}

TEST_CASE("average_gradients: all weights 0, a bad weight, and lists of different sizes are errors on every rank") {
    ThreadRanks group(2);
    group.run([&](ThreadRank& d) {
        const ag::Tensor t({2}, {1, 2});
        d.average_gradients(std::vector<ag::Tensor>{t}, 0.0);
    });
    for (auto e : group.errors())
        CHECK(message_of(e) == "average_gradients: every rank's weight is 0 (no rank had rows), so there is no mean");

    group.run([&](ThreadRank& d) {
        const ag::Tensor t({2}, {1, 2});
        d.average_gradients(std::vector<ag::Tensor>{t}, d.rank() == 1 ? -1.0 : 1.0);
    });
    CHECK(message_of(group.errors()[1]) == "average_gradients: weight -1 is not a finite number >= 0");
    CHECK(message_of(group.errors()[0]) ==
          "average_gradients: rank 1 of 2 failed: average_gradients: weight -1 is not a finite number >= 0; every rank "
          "stops");

    group.run([&](ThreadRank& d) {
        const ag::Tensor t({d.rank() == 0 ? 2 : 3},
                           0.0 ? std::vector<double>{} : std::vector<double>(d.rank() == 0 ? 2u : 3u));
        d.average_gradients(std::vector<ag::Tensor>{t});
    });
    CHECK(
        message_of(group.errors()[0]) ==
        "average_gradients: the ranks' parameter lists differ in size (this rank, 0: 2 float64 and 0 float32 scalars)");
    CHECK(
        message_of(group.errors()[1]) ==
        "average_gradients: the ranks' parameter lists differ in size (this rank, 1: 3 float64 and 0 float32 scalars)");
}

TEST_CASE("A rank whose step fails: it rethrows its error, every other rank throws DistributedError naming it") {
    ThreadRanks group(3);
    group.run([&](ThreadRank& d) {
        const ag::Tensor t({2}, {1, 2});
        std::exception_ptr error;
        if (d.rank() == 1) error = std::make_exception_ptr(std::runtime_error("out of data"));
        d.average_gradients(std::vector<ag::Tensor>{t}, 1.0, error);
    });
    CHECK(message_of(group.errors()[1]) == "out of data");
    for (int r : {0, 2}) {
        const auto e = group.errors()[static_cast<std::size_t>(r)];
        CHECK(message_of(e) == "average_gradients: rank 1 of 3 failed: out of data; every rank stops");
        try {
            std::rethrow_exception(e);
        } catch (const DistributedError& x) {
            CHECK(x.failed_rank() == 1);
        } catch (...) {
            FAIL("not a DistributedError");
        }
    }
    // Two ranks fail: the lowest is named, with the count.
    group.run([&](ThreadRank& d) {
        double figures[] = {1.0};
        std::exception_ptr error;
        if (d.rank() > 0) error = std::make_exception_ptr(std::runtime_error(fmt::format("disk {} full", d.rank())));
        d.sum(figures, error);
    });
    CHECK(message_of(group.errors()[0]) == "sum: rank 1 of 3 failed: disk 1 full (2 ranks failed); every rank stops");
    CHECK(message_of(group.errors()[2]) == "disk 2 full");
}

TEST_CASE("broadcast_parameters and agree: rank 0's values everywhere, and whether ranks hold the same bits") {
    ThreadRanks group(3);
    std::vector<int> agreed_before(3), agreed_after(3);
    group.run([&](ThreadRank& d) {
        const TensorMLP32 model(4, {5, 3}, {.seed = static_cast<std::uint64_t>(d.rank())});  // different starts
        const ParameterList list = model.parameters();
        agreed_before[static_cast<std::size_t>(d.rank())] = d.agree(list);
        d.broadcast_parameters(list);
        agreed_after[static_cast<std::size_t>(d.rank())] = d.agree(list);
        const TensorMLP32 rank0(4, {5, 3}, {.seed = 0});
        CHECK(values_of(model) == values_of(rank0));
    });
    for (auto e : group.errors()) REQUIRE_MESSAGE(!e, message_of(e));
    CHECK(agreed_before == std::vector<int>{0, 0, 0});
    CHECK(agreed_after == std::vector<int>{1, 1, 1});
}

namespace {
// The trainer's run on `ranks` threads (0: no Distributed at all): the
// final parameters of every rank and rank 0's history.
struct Run {
    std::vector<std::vector<double>> parameters;
    History history;
};
Run train(int ranks, std::size_t batch_size, std::size_t epochs, double validation_fraction = 0.2) {
    Run run;
    auto body = [&](Distributed* d) {
        const Dataset data = make_spirals(200, 0.2, 3, 3);
        const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
        const TensorMLP model(2, {16, 3}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 5});
        Adam adam(model.parameters(), {.lr = 0.01});
        CosineLR schedule(adam, {.t_max = epochs});
        const Trainer trainer({.epochs = epochs,
                               .batch_size = batch_size,
                               .validation_fraction = validation_fraction,
                               .seed = 11,
                               .schedule = &schedule,
                               .progress = Progress::Off,
                               .distributed = d});
        History h = trainer.fit(model, adam, X, y);
        return std::make_pair(values_of(model), h);
    };
    if (ranks == 0) {
        auto [v, h] = body(nullptr);
        run.parameters.push_back(v);
        run.history = h;
        return run;
    }
    run.parameters.resize(static_cast<std::size_t>(ranks));
    ThreadRanks group(ranks);
    group.run([&](ThreadRank& d) {
        auto [v, h] = body(&d);
        run.parameters[static_cast<std::size_t>(d.rank())] = v;
        if (d.is_root()) run.history = h;
    });
    for (auto e : group.errors()) REQUIRE_MESSAGE(!e, message_of(e));
    return run;
}
}  // namespace

TEST_CASE("Trainer on 1, 2, 3, 4 ranks = one process on the whole batch (1e-12), every rank the same bits") {
    const Run single = train(0, 32, 3);
    for (int ranks : {1, 2, 3, 4}) {
        CAPTURE(ranks);
        // 160 training rows in batches of 32; 3 and 4 ranks do not divide
        // 32 evenly or the last batch (none is last-short here, so also 30).
        for (std::size_t batch : {std::size_t{32}, std::size_t{30}}) {
            CAPTURE(batch);
            const Run reference = batch == 32 ? single : train(0, batch, 3);
            const Run dist = train(ranks, batch, 3);
            for (const auto& p : dist.parameters) CHECK(p == dist.parameters[0]);
            const double diff = relative_difference(dist.parameters[0], reference.parameters[0]);
            CAPTURE(diff);
            CHECK(diff <= 1e-12);
            MESSAGE(fmt::format("{} ranks, batch {}: relative difference {:.3g}", ranks, batch, diff));
            REQUIRE(dist.history.epochs.size() == 3);
            for (std::size_t e = 0; e < 3; ++e) {
                const EpochStats &a = dist.history.epochs[e], &b = reference.history.epochs[e];
                CHECK(std::abs(a.loss - b.loss) <= 1e-12 * b.loss);
                CHECK(a.accuracy == b.accuracy);
                CHECK(std::abs(a.val_loss - b.val_loss) <= 1e-12 * b.val_loss);
                CHECK(a.val_accuracy == b.val_accuracy);
            }
        }
    }
}

TEST_CASE("Trainer with more ranks than rows in a batch: ranks without rows still take part") {
    // Batches of 2 rows on 3 ranks: rank 0 never has rows.
    const Run single = train(0, 2, 1, 0.0);
    const Run dist = train(3, 2, 1, 0.0);
    CHECK(relative_difference(dist.parameters[0], single.parameters[0]) <= 1e-12);
    CHECK(dist.parameters[0] == dist.parameters[2]);
}

TEST_CASE("Trainer: a rank whose forward pass throws stops every rank, with its message") {
    ThreadRanks group(3);
    group.run([&](ThreadRank& d) {
        const Dataset data = make_moons(64, 0.1, 1);
        const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
        const TensorMLP mlp(2, {8, 2}, {.seed = 1});
        int calls = 0;
        auto model = [&](const ag::Tensor& x) {
            if (d.rank() == 2 && ++calls == 3) throw std::runtime_error("injected failure");
            return mlp(x);
        };
        SGD sgd(mlp.parameters(), 0.1);
        Trainer({.epochs = 2, .batch_size = 16, .progress = Progress::Off, .distributed = &d}).fit(model, sgd, X, y);
    });
    CHECK(message_of(group.errors()[2]) == "injected failure");
    CHECK(message_of(group.errors()[0]) == "average_gradients: rank 2 of 3 failed: injected failure; every rank stops");
    CHECK(message_of(group.errors()[1]) == "average_gradients: rank 2 of 3 failed: injected failure; every rank stops");
}

TEST_CASE("Trainer: ranks called with different data or options are told so, every one") {
    ThreadRanks group(2);
    group.run([&](ThreadRank& d) {
        const Dataset data = make_moons(64, 0.1, 1);
        const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
        const TensorMLP mlp(2, {8, 2}, {.seed = 1});
        SGD sgd(mlp.parameters(), 0.1);
        Trainer({.epochs = 1, .batch_size = d.rank() == 0 ? 16u : 8u, .progress = Progress::Off, .distributed = &d})
            .fit(mlp, sgd, X, y);
    });
    CHECK(message_of(group.errors()[1]) ==
          "Trainer::fit: the ranks differ in their data or options (this rank, 1: 64 training rows of 2 features, 0 "
          "validation rows, batch_size 8, 1 epochs, seed 0, shuffle true, 42 parameters); every rank must call fit() "
          "with the same");
    CHECK(group.errors()[0] != nullptr);
}

TEST_CASE("Trainer: on_epoch returning false on one rank stops every rank after that epoch") {
    ThreadRanks group(2);
    std::vector<std::size_t> epochs(2);
    group.run([&](ThreadRank& d) {
        const Dataset data = make_moons(64, 0.1, 1);
        const ag::Tensor X = features_tensor(data), y = labels_tensor(data);
        const TensorMLP mlp(2, {8, 2}, {.seed = 1});
        SGD sgd(mlp.parameters(), 0.1);
        const History h = Trainer({.epochs = 5,
                                   .batch_size = 16,
                                   .on_epoch = [&](const EpochStats& s) { return !(d.rank() == 1 && s.epoch == 2); },
                                   .progress = Progress::Off,
                                   .distributed = &d})
                              .fit(mlp, sgd, X, y);
        epochs[static_cast<std::size_t>(d.rank())] = h.epochs.size();
    });
    CHECK(epochs == std::vector<std::size_t>{2, 2});
}
