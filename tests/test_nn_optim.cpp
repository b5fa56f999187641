// Optimizers and learning-rate schedules: the first steps on the
// one-parameter problem loss = p², p₀ = 1 (gradient 2p), against updates
// computed by hand (shown) and confirmed with torch.optim 1.13 in float64.
#include <nn/nn.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

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
auto adamw(AdamWOptions o) {
    return [o](ParameterList ps) { return std::make_unique<AdamW>(std::move(ps), o); };
}
auto rmsprop(RMSpropOptions o) {
    return [o](ParameterList ps) { return std::make_unique<RMSprop>(std::move(ps), o); };
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
    check_steps(run(adam({.lr = 0.1, .weight_decay = 0.5})),
                {0.9000000003999999, 0.8004122284876838, 0.7015862726343534});
    // Decoupled (AdamW): p ← p − lr·wd·p first: 1 − 0.05 = 0.95, then the Adam step −0.1 → 0.85.
    check_steps(run(adam({.lr = 0.1, .weight_decay = 0.5, .decoupled_weight_decay = true})),
                {0.8500000004999999, 0.7082484433597452, 0.5749739307415966});
}

TEST_CASE("AdamW: torch's defaults, decoupled decay, its own kind") {
    // lr 1e-3, weight_decay 0.01: p ← p·(1 − 1e-5) = 0.99999, then the Adam step −1e-3·2/(2 + 1e-8)
    // = −0.000999999995: 0.998990000005 (later steps by the same formulas, float64 by hand in Python)
    check_steps(run(adamw({})), {0.998990000005, 0.9979800365772695, 0.9969701273303954});
    // The same as Adam with decoupled_weight_decay.
    check_steps(run(adamw({.lr = 0.1, .weight_decay = 0.5})),
                {0.8500000004999999, 0.7082484433597452, 0.5749739307415966});
    const Value p(1.0);
    AdamW w(std::vector<Value>{p});
    CHECK(std::string(w.kind()) == "AdamW");
    CHECK(w.options().decoupled_weight_decay);
    CHECK(w.options().weight_decay == 0.01);
    // Adam's state (L2 decay) is not AdamW's, nor the reverse.
    Adam a(std::vector<Value>{p});
    CHECK_THROWS_WITH_AS(w.load_state(a.state()), "Optimizer::load_state: the state is Adam's, this optimizer is AdamW",
                         std::invalid_argument);
    OptimizerState s = w.state();
    for (auto& [name, value] : s.scalars)
        if (name == "decoupled_weight_decay") value = 0.0;
    CHECK_THROWS_WITH_AS(w.load_state(s),
                         "AdamW::load_state: the state's decoupled_weight_decay is 0 (Adam's L2 decay)",
                         std::invalid_argument);
}

TEST_CASE("RMSprop: plain, momentum, centered, weight decay (torch.optim.RMSprop's rule)") {
    // α = 0.9, lr = 0.1. Step 1: g = 2, v = 0.1·4 = 0.4, p = 1 − 0.1·2/(√0.4 + 1e-8) = 0.683772238983162.
    // Step 2: g = 1.367544477966324, v = 0.36 + 0.1·g² = 0.5470177..., p −= 0.1·g/(√v + ε).
    // (Steps 2 and 3 by the same formulas in float64, by hand in Python.)
    check_steps(run(rmsprop({.lr = 0.1, .alpha = 0.9})), {0.683772238983162, 0.498870613507054, 0.36918056029155966});
    // Momentum 0.5: b₁ = g/d = 3.1622776..., p = 1 − 0.1·b₁ (as above); b₂ = 0.5·b₁ + g₂/d₂.
    check_steps(run(rmsprop({.lr = 0.1, .alpha = 0.9, .momentum = 0.5})),
                {0.683772238983162, 0.34075673299863496, 0.07640025838779696});
    // Centered: a = 0.1·2 = 0.2, v − a² = 0.4 − 0.04 = 0.36, p = 1 − 0.1·2/(0.6 + 1e-8) = 0.6666666722222221.
    check_steps(run(rmsprop({.lr = 0.1, .alpha = 0.9, .centered = true})),
                {0.6666666722222221, 0.46556768162899054, 0.32356940972855447});
    // weight_decay 0.5: g = 2.5p; step 1 g = 2.5, v = 0.625, p = 1 − 0.25/(√0.625 + 1e-8) = 0.683772237983162.
    check_steps(run(rmsprop({.lr = 0.1, .alpha = 0.9, .weight_decay = 0.5})),
                {0.683772237983162, 0.4988706121850172, 0.3691805588643128});
    // All together: g = 2.5, v = 0.625, a = 0.25, d = √0.5625 = 0.75, b₁ = 2.5/0.75, p = 1 − 0.1·b₁ = 0.6666666711111.
    check_steps(run(rmsprop({.lr = 0.1, .alpha = 0.9, .weight_decay = 0.5, .momentum = 0.5, .centered = true})),
                {0.666666671111111, 0.2989010156982972, 0.020840865266551822});
    const Value p(1.0);
    CHECK_THROWS_WITH_AS(RMSprop(std::vector<Value>{p}, {.alpha = 1.5}), "RMSprop: alpha must be in [0, 1], got 1.5",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(RMSprop(std::vector<Value>{p}, {.momentum = -0.1}),
                         "RMSprop: momentum must be a finite number >= 0, got -0.1", std::invalid_argument);
}

TEST_CASE("clip_grad_norm: the global norm, scaled as torch.nn.utils.clip_grad_norm_") {
    const ag::Tensor w(ag::Shape{2}, {0.0, 0.0});
    const ag::Tensor32 v(ag::Shape{1}, {0.0f});
    const Value b(0.0);
    ParameterList params(std::vector<ag::Tensor>{w});
    params.add(v);
    params.add(b);
    auto set_grads = [&] {
        params.zero_grad();
        ag::Scope scope;
        // gradients (1, 2), 2, 4: norm √(1 + 4 + 4 + 16) = 5
        ag::sum(w * ag::Tensor(ag::Shape{2}, {1.0, 2.0})).backward();
        ag::sum(v * 2.0f).backward();
        (b * 4.0).backward();
    };
    set_grads();
    CHECK(clip_grad_norm(params, 10.0) == 5.0);  // below the limit: unchanged
    CHECK(w.grad()[0] == 1.0);
    CHECK(b.grad() == 4.0);
    set_grads();
    CHECK(clip_grad_norm(params, 1.0) == 5.0);
    const double c = 1.0 / (5.0 + 1e-6);  // torch's clip coefficient
    CHECK(w.grad()[0] == doctest::Approx(1.0 * c).epsilon(1e-15));
    CHECK(w.grad()[1] == doctest::Approx(2.0 * c).epsilon(1e-15));
    CHECK(v.grad()[0] == doctest::Approx(2.0 * c).epsilon(1e-7));
    CHECK(b.grad() == doctest::Approx(4.0 * c).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(clip_grad_norm(params, 0.0), "clip_grad_norm: max_norm must be a finite number > 0, got 0",
                         std::invalid_argument);
    b.set_grad(std::numeric_limits<double>::infinity());
    CHECK_THROWS_WITH_AS(clip_grad_norm(params, 1.0),
                         "clip_grad_norm: the gradients' norm is inf (a gradient is NaN or infinite)",
                         std::runtime_error);
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

TEST_CASE("ExponentialLR and warm-up: rates against their formulas") {
    const Value p(0.0);
    SGD opt(std::vector<Value>{p}, 0.1);
    ExponentialLR exponential(opt, 0.5);
    std::vector<double> lrs;
    for (int e = 0; e < 4; ++e) {
        lrs.push_back(opt.lr());
        exponential.step();
    }
    check_steps(lrs, {0.1, 0.05, 0.025, 0.0125});  // 0.1·0.5^e
    CHECK_THROWS_WITH_AS(ExponentialLR(opt, 0.0), "ExponentialLR: gamma must be a finite number > 0, got 0",
                         std::invalid_argument);

    // Warm-up over 4 epochs from 0.25·base, then StepLR(2, 0.5) from its epoch 0:
    // 0.1·(0.25 + 0.75·e/4) = 0.025, 0.04375, 0.0625, 0.08125; then 0.1, 0.1, 0.05, 0.05
    SGD opt2(std::vector<Value>{p}, 0.1);
    StepLR after(opt2, {.step_size = 2, .gamma = 0.5});
    WarmupLR warmup(opt2, {.warmup_epochs = 4, .start_factor = 0.25}, &after);
    CHECK(opt2.lr() == 0.025);  // set at once
    lrs.clear();
    for (int e = 0; e < 8; ++e) {
        lrs.push_back(opt2.lr());
        warmup.step();
    }
    check_steps(lrs, {0.025, 0.04375, 0.0625, 0.08125, 0.1, 0.1, 0.05, 0.05});
    SGD opt3(std::vector<Value>{p}, 0.2);
    WarmupLR alone(opt3, {.warmup_epochs = 2, .start_factor = 0.5});
    CHECK(alone.lr_at(0) == 0.1);
    CHECK(alone.lr_at(1) == doctest::Approx(0.15).epsilon(1e-15));
    CHECK(alone.lr_at(2) == 0.2);
    CHECK(alone.lr_at(100) == 0.2);
    CHECK_THROWS_WITH_AS(WarmupLR(opt3, {.warmup_epochs = 0}), "WarmupLR: warmup_epochs must be at least 1",
                         std::invalid_argument);
    CHECK_THROWS_WITH_AS(WarmupLR(opt3, {.warmup_epochs = 2, .start_factor = 0.0}),
                         "WarmupLR: start_factor must be in (0, 1], got 0", std::invalid_argument);
}

TEST_CASE("ReduceLROnPlateau: patience, threshold, cooldown, min_lr (torch's rules, traced by hand)") {
    const Value p(0.0);
    SGD opt(std::vector<Value>{p}, 1.0);
    ReduceLROnPlateau plateau(opt, {.factor = 0.5, .patience = 2, .threshold = 0.1, .cooldown = 1, .min_lr = 0.3});
    // metric      best   bad  cooldown  lr
    // 10          10     0    0         1
    // 9.5         10     1              (not < 10·0.9 = 9: no improvement)
    // 8.9         8.9    0              (< 9)
    // 9, 9        8.9    1, 2
    // 9           8.9    3 > 2 → lr 0.5, bad 0, cooldown 1
    // 9           8.9    1 → cooldown: bad 0, cooldown 0
    // 9, 9        8.9    1, 2
    // 9           8.9    3 → lr max(0.25, 0.3) = 0.3
    // 9 ×4        (cooldown, then 3 bad) → lr stays 0.3 (a reduction to min_lr is none)
    const double metrics[] = {10, 9.5, 8.9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9};
    const double expected[] = {1, 1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0.3, 0.3, 0.3, 0.3, 0.3};
    for (std::size_t e = 0; e < std::size(metrics); ++e) {
        CAPTURE(e);
        plateau.step(metrics[e]);
        CHECK(opt.lr() == expected[e]);
    }
    CHECK(plateau.best() == 8.9);
    CHECK(plateau.epoch() == std::size(metrics));
    CHECK_THROWS_WITH_AS(plateau.step(), "ReduceLROnPlateau::step: it needs the watched figure, step(metric)",
                         std::logic_error);
    // Max mode (an accuracy): better means > best·(1 + threshold).
    SGD opt2(std::vector<Value>{p}, 1.0);
    ReduceLROnPlateau up(opt2, {.mode = PlateauMode::Max, .factor = 0.1, .patience = 0, .threshold = 0.0});
    up.step(0.5);
    CHECK(opt2.lr() == 1.0);
    up.step(0.6);
    CHECK(opt2.lr() == 1.0);
    up.step(0.6);  // not better: 1 bad epoch > patience 0
    CHECK(opt2.lr() == doctest::Approx(0.1).epsilon(1e-15));
    CHECK_THROWS_WITH_AS(ReduceLROnPlateau(opt2, {.factor = 1.0}), "ReduceLROnPlateau: factor must be in (0, 1), got 1",
                         std::invalid_argument);
}

TEST_CASE("Optimizer errors") {
    const Value p(1.0);
    CHECK_THROWS_WITH_AS(SGD(std::vector<Value>{p}, {.lr = 0.1, .nesterov = true}),
                         "SGD: Nesterov momentum needs momentum > 0", std::invalid_argument);
    CHECK_THROWS_WITH_AS(SGD(std::vector<Value>{p}, -1.0),
                         "Optimizer: learning rate must be a finite number >= 0, got -1", std::invalid_argument);
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
