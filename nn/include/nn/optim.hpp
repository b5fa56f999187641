#pragma once
// Optimizers over a ParameterList (scalar Values and tensors), and
// learning-rate schedules. The update rules are PyTorch's, so that numbers
// carry over:
//
// SGD (torch.optim.SGD, dampening 0), per parameter p with gradient g:
//     g ← g + weight_decay · p
//     with momentum μ > 0:  b ← g on the first step, else b ← μ·b + g
//                           g ← g + μ·b (Nesterov) or g ← b
//     p ← p − lr · g
// Adam (torch.optim.Adam; AdamW when decoupled_weight_decay), step t = 1, 2, ...:
//     g ← g + weight_decay · p          (or, decoupled: p ← p − lr · weight_decay · p)
//     m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
//     p ← p − lr · (m / (1 − β1^t)) / (sqrt(v / (1 − β2^t)) + ε)
//
// Optimizer state is kept in double, also for float32 tensors. step() reads
// the gradients where backward() left them; zero_grad() clears them.
//
// state() / load_state(): everything that decides the next updates besides
// the parameters (step count, learning rate, hyperparameters, moments), as
// torch's optimizer.state_dict(); save_checkpoint (nn/checkpoint.hpp)
// writes it beside the model, so that training resumes exactly. Loading
// restores the hyperparameters too, as torch's load_state_dict does.
#include <nn/parameters.hpp>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace ag::nn {

struct OptimizerState {
    std::string kind;                                                   // "SGD", "Adam"
    std::vector<std::pair<std::string, double>> scalars;                // "lr", "steps", hyperparameters
    std::vector<std::pair<std::string, std::vector<double>>> buffers;  // one value per parameter scalar
    std::vector<std::size_t> blocks;  // the parameter list's block sizes (ParameterList::block_sizes)
};

class Optimizer {
public:
    explicit Optimizer(ParameterList parameters, double lr);
    virtual ~Optimizer() = default;
    Optimizer(const Optimizer&) = delete;
    Optimizer& operator=(const Optimizer&) = delete;

    // One update of every parameter from its current gradient.
    virtual void step() = 0;
    void zero_grad() const { parameters_.zero_grad(); }
    double lr() const noexcept { return lr_; }
    void set_lr(double lr);
    // Updates done so far.
    std::size_t steps() const noexcept { return steps_; }
    const ParameterList& parameters() const noexcept { return parameters_; }
    virtual const char* kind() const noexcept = 0;

    // A copy of the state (see above).
    OptimizerState state() const;
    // Restores a state made by state() of an optimizer of the same kind over
    // parameters of the same sizes; std::invalid_argument naming what differs
    // otherwise (this optimizer is then unchanged).
    void load_state(const OptimizerState& state);

protected:
    // The kind's own hyperparameters and buffers, for state()/load_state().
    virtual void save_extra(OptimizerState& s) const = 0;
    // Checks `s` (its names and sizes were checked) and takes it over; the
    // base's lr and steps are set by the caller after this returns.
    virtual void load_extra(const OptimizerState& s) = 0;

    ParameterList parameters_;
    double lr_;
    std::size_t steps_ = 0;
    std::size_t n_ = 0;  // scalars in all parameters; state vectors have this size
};

struct SGDOptions {
    double lr = 0.01;
    double momentum = 0.0;
    bool nesterov = false;
    double weight_decay = 0.0;
};

class SGD : public Optimizer {
public:
    explicit SGD(ParameterList parameters, const SGDOptions& options = {});
    SGD(ParameterList parameters, double lr) : SGD(std::move(parameters), SGDOptions{.lr = lr}) {}
    void step() override;
    const SGDOptions& options() const noexcept { return options_; }
    const char* kind() const noexcept override { return "SGD"; }

private:
    void save_extra(OptimizerState& s) const override;
    void load_extra(const OptimizerState& s) override;
    SGDOptions options_;
    std::vector<double> velocity_;  // one per parameter scalar, zeros without momentum
};

struct AdamOptions {
    double lr = 0.001;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // true: AdamW
};

class Adam : public Optimizer {
public:
    explicit Adam(ParameterList parameters, const AdamOptions& options = {});
    void step() override;
    const AdamOptions& options() const noexcept { return options_; }
    const char* kind() const noexcept override { return "Adam"; }

private:
    void save_extra(OptimizerState& s) const override;
    void load_extra(const OptimizerState& s) override;
    AdamOptions options_;
    std::vector<double> m_, v_;
};

// Learning-rate schedules, stepped once per epoch as in PyTorch:
//     ag::nn::StepLR schedule(opt, {.step_size = 30, .gamma = 0.1});
//     for (epoch ...) { ...train...; schedule.step(); }
// lr_at(e) is the learning rate during epoch e (0-based); step() moves to
// the next epoch and sets it on the optimizer. The base rate is the
// optimizer's rate when the schedule is made.
class LRSchedule {
public:
    explicit LRSchedule(Optimizer& optimizer) : optimizer_(&optimizer), base_lr_(optimizer.lr()) {}
    virtual ~LRSchedule() = default;
    virtual double lr_at(std::size_t epoch) const = 0;
    void step() { optimizer_->set_lr(lr_at(++epoch_)); }
    std::size_t epoch() const noexcept { return epoch_; }
    double base_lr() const noexcept { return base_lr_; }
    // Where a checkpoint left the schedule (load_checkpoint): the epoch and
    // the base rate; the optimizer's rate is restored with its own state.
    void restore(std::size_t epoch, double base_lr);

protected:
    Optimizer* optimizer_;
    double base_lr_;
    std::size_t epoch_ = 0;
};

struct StepLROptions {
    std::size_t step_size = 10;  // epochs between decays
    double gamma = 0.1;          // factor at each decay
};

// lr = base · gamma^floor(epoch / step_size)  (torch.optim.lr_scheduler.StepLR)
class StepLR : public LRSchedule {
public:
    StepLR(Optimizer& optimizer, const StepLROptions& options);
    double lr_at(std::size_t epoch) const override;

private:
    StepLROptions options_;
};

struct CosineLROptions {
    std::size_t t_max = 100;  // epochs from base to min_lr
    double min_lr = 0.0;
};

// lr = min + (base − min) · (1 + cos(π · epoch / t_max)) / 2, for epoch ≤ t_max,
// then min (torch.optim.lr_scheduler.CosineAnnealingLR without restarts).
class CosineLR : public LRSchedule {
public:
    CosineLR(Optimizer& optimizer, const CosineLROptions& options);
    double lr_at(std::size_t epoch) const override;

private:
    CosineLROptions options_;
};

}  // namespace ag::nn
