// Optimizers and learning-rate schedules: the first steps on the
// one-parameter problem loss = p², p₀ = 1 (gradient 2p), against updates
// computed by hand (shown) and confirmed with torch.optim 1.13 in float64.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>

using ag::Value;
using namespace ag::nn;

namespace {
// Runs `steps` updates of loss = p² from p = 1 with a scalar Value parameter
// and, separately, with a one-element float64 tensor; returns p after each
// step (the two must agree exactly).
template <class MakeOptimizer>
std::vector<double> run(MakeOptimizer make, int steps = 3) {
    const Value p(1.0);
    const ag::Tensor t(ag::Shape{1}, {1.0});  // ({1}, {1.0}) is ambiguous with a private constructor
    auto opt_scalar = make(ParameterList(std::vector<Value>{p}));
    auto opt_tensor = make(ParameterList(std::vector<ag::Tensor>{t}));
    std::vector<double> out;
    for (int k = 0; k < steps; ++k) {
        {
            ag::Scope scope;
            opt_scalar->zero_grad();
            (p * p).backward();
            opt_scalar->step();
        }
        {
            ag::Scope scope;
            opt_tensor->zero_grad();
            ag::sum(t * t).backward();
            opt_tensor->step();
        }
        CHECK(t.data()[0] == p.data());
        out.push_back(p.data());
    }
    return out;
}
auto sgd(SGDOptions o) {
    return [o](ParameterList ps) { return std::make_unique<SGD>(std::move(ps), o); };
}
auto adam(AdamOptions o) {
    return [o](ParameterList ps) { return std::make_unique<Adam>(std::move(ps), o); };
}
void check_steps(const std::vector<double>& got, const std::vector<double>& expected) {
    REQUIRE(got.size() == expected.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
        CAPTURE(k);
        CHECK(got[k] == doctest::Approx(expected[k]).epsilon(1e-13).scale(1e-13));
    }
}
}  // namespace

TEST_CASE("SGD: plain, momentum, Nesterov, weight decay") {
    // p ← p − 0.1·2p: 0.8, 0.64, 0.512
    check_steps(run(sgd({.lr = 0.1})), {0.8, 0.64, 0.512});
    // b₁ = 2, p = 0.8; b₂ = 0.9·2 + 1.6 = 3.4, p = 0.46; b₃ = 0.9·3.4 + 0.92 = 3.98, p = 0.062
    check_steps(run(sgd({.lr = 0.1, .momentum = 0.9})), {0.8, 0.46, 0.062});
    // Nesterov: g + μb. b₁ = 2, step 3.8 → 0.62; g = 1.24, b₂ = 3.04, step 1.24 + 2.736 → 0.2224;
    // g = 0.4448, b₃ = 3.1808, step 0.4448 + 2.86272 → −0.108352
    check_steps(run(sgd({.lr = 0.1, .momentum = 0.9, .nesterov = true})), {0.62, 0.2224, -0.108352});
    // weight decay 0.5: g = 2p + 0.5p = 2.5p, p ← 0.75p
    check_steps(run(sgd({.lr = 0.1, .weight_decay = 0.5})), {0.75, 0.5625, 0.421875});
    // momentum with weight decay: b₁ = 2.5, p = 0.75; g = 1.875, b₂ = 4.125, p = 0.3375; g = 0.84375,
    // b₃ = 4.55625, p = −0.118125
    check_steps(run(sgd({.lr = 0.1, .momentum = 0.9, .weight_decay = 0.5})), {0.75, 0.3375, -0.118125});
}

TEST_CASE("Adam and AdamW") {
    // Step 1: g = 2, m = 0.2, v = 0.004, m̂ = 2, v̂ = 4, p = 1 − 0.1·2/(2 + 1e-8) = 0.9000000005
    // Step 2: g = 1.800000001, m = 0.36, v = 0.007236, m̂ = 0.36/0.19, v̂ = 0.007236/0.001999 → 0.8004122286917927
    check_steps(run(adam({.lr = 0.1})), {0.9000000005, 0.8004122286917927, 0.7015862729460302});
    check_steps(run(adam({.lr = 0.1, .beta1 = 0.5, .beta2 = 0.9, .eps = 1e-3})),
                {0.9000499750124937, 0.8017189029067473, 0.7061339210145576});
    // L2 weight decay enters the gradient: step 1 direction unchanged (m̂/√v̂ = 1), only eps differs.
    check_steps(run(adam({.lr = 0.1, .weight_decay = 0.5})), {0.9000000003999999, 0.8004122284876838, 0.7015862726343534});
    // Decoupled (AdamW): p ← p − lr·wd·p first: 1 − 0.05 = 0.95, then the Adam step −0.1 → 0.85.
    check_steps(run(adam({.lr = 0.1, .weight_decay = 0.5, .decoupled_weight_decay = true})),
                {0.8500000004999999, 0.7082484433597452, 0.5749739307415966});
}

TEST_CASE("Optimizers update float32 tensors and mixed lists, and clear gradients") {
    const ag::Tensor32 w(ag::Shape{2}, {1.0f, -2.0f});
    const Value b(0.5);
    ParameterList params(std::vector<ag::Tensor32>{w});
    params.add(b);
    CHECK(params.size() == 3);
    SGD opt(params, 0.25);
    {
        ag::Scope scope;
        ag::sum(w * w).backward();  // grad 2w
        (b * 3.0).backward();       // grad 3
        opt.step();
    }
    CHECK(w.data()[0] == 0.5f);   // 1 − 0.25·2
    CHECK(w.data()[1] == -1.0f);  // −2 + 0.25·4
    CHECK(b.data() == -0.25);     // 0.5 − 0.25·3
    opt.zero_grad();
    CHECK(w.grad()[0] == 0.0f);
    CHECK(b.grad() == 0.0);
    CHECK(opt.steps() == 1);
}

TEST_CASE("Learning-rate schedules: step and cosine (torch.optim.lr_scheduler values)") {
    const Value p(0.0);
    SGD opt(std::vector<Value>{p}, 0.1);
    StepLR step(opt, {.step_size = 2, .gamma = 0.5});
    std::vector<double> lrs;
    for (int e = 0; e < 6; ++e) {
        lrs.push_back(opt.lr());
        step.step();
    }
    check_steps(lrs, {0.1, 0.1, 0.05, 0.05, 0.025, 0.025});

    SGD opt2(std::vector<Value>{p}, 0.1);
    CosineLR cosine(opt2, {.t_max = 4, .min_lr = 0.01});
    lrs.clear();
    for (int e = 0; e < 6; ++e) {
        lrs.push_back(opt2.lr());
        cosine.step();
    }
    // 0.01 + 0.09·(1 + cos(πe/4))/2, then min_lr
    check_steps(lrs, {0.1, 0.08681980515339464, 0.055, 0.023180194846605363, 0.01, 0.01});
}

TEST_CASE("Optimizer errors") {
    const Value p(1.0);
    CHECK_THROWS_WITH_AS(SGD(std::vector<Value>{p}, {.lr = 0.1, .nesterov = true}),
                         "SGD: Nesterov momentum needs momentum > 0", std::invalid_argument);
    CHECK_THROWS_WITH_AS(SGD(std::vector<Value>{p}, -1.0), "Optimizer: learning rate must be a finite number >= 0, got -1",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(Adam(std::vector<Value>{p}, {.beta1 = 1.0}),
                         "Adam: betas must be in [0, 1), got beta1 = 1, beta2 = 0.999", std::invalid_argument);
    // A parameter freed by a Scope is reported, not written through.
    std::optional<SGD> opt;
    {
        ag::Scope scope;
        opt.emplace(std::vector<Value>{Value(2.0)}, 0.1);
    }
    CHECK_THROWS_AS(opt->step(), std::logic_error);
}
