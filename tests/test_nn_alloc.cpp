// The Trainer's inner loop (select rows, forward, loss, backward, optimizer
// step) makes no heap allocation once the tape's arena has grown: counted by
// replacing the global operator new in this test binary.
#include "tests/count_allocations.hpp"

#include <nn/nn.hpp>

#include <doctest/doctest.h>

using namespace ag::nn;

TEST_CASE("Trainer steps after the first epoch allocate nothing per step") {
    const Dataset data = make_spirals(800, 0.2, 1, 4);
    const ag::Tensor32 X = features_tensor<float>(data), y = labels_tensor<float>(data);
    const TensorMLP32 model(2, {32, 32, 4}, {.hidden = Activation::Tanh, .init = Init::Xavier, .seed = 1});
    for (int use_adam = 0; use_adam < 2; ++use_adam) {
        CAPTURE(use_adam);
        std::unique_ptr<Optimizer> opt;
        if (use_adam)
            opt = std::make_unique<Adam>(model.parameters(), AdamOptions{.lr = 1e-2});
        else
            opt = std::make_unique<SGD>(model.parameters(), SGDOptions{.lr = 0.05, .momentum = 0.9});
        std::vector<std::size_t> at_epoch_end;
        at_epoch_end.reserve(8);
        const Trainer trainer({.epochs = 4,
                               .batch_size = 8,
                               .on_epoch =
                                   [&](const EpochStats&) {
                                       at_epoch_end.push_back(static_cast<std::size_t>(allocations.load()));
                                       return true;
                                   },
                               .progress = Progress::Off});
        trainer.fit(model, *opt, X, y);
        REQUIRE(at_epoch_end.size() == 4);
        // 100 steps an epoch; what an epoch allocates outside them (its
        // statistics, the history) is a handful, not one per step.
        CHECK(at_epoch_end[3] - at_epoch_end[2] < 10);
        CHECK(at_epoch_end[2] - at_epoch_end[1] < 10);
    }
}
