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
// AdamW (torch.optim.AdamW): Adam with decoupled weight decay, under its own
//     name and with torch's default weight_decay = 0.01 (Adam's is 0).
// RMSprop (torch.optim.RMSprop, PyTorch's defaults α = 0.99, ε = 1e-8):
//     g ← g + weight_decay · p
//     v ← α·v + (1 − α)·g²
//     centered:  a ← α·a + (1 − α)·g,  d = sqrt(v − a²) + ε;  else d = sqrt(v) + ε
//     with momentum μ > 0:  b ← μ·b + g / d,  p ← p − lr · b
//     else                  p ← p − lr · g / d
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
    std::string kind;                                                  // "SGD", "Adam", "AdamW", "RMSprop"
    std::vector<std::pair<std::string, double>> scalars;               // "lr", "steps", hyperparameters
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

protected:
    void save_extra(OptimizerState& s) const override;
    void load_extra(const OptimizerState& s) override;

private:
    AdamOptions options_;
    std::vector<double> m_, v_;
};

struct AdamWOptions {
    double lr = 0.001;
    double beta1 = 0.9;
    double beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0.01;  // torch.optim.AdamW's default
};

// Adam with decoupled weight decay (see above); its state is Adam's, of kind "AdamW".
class AdamW : public Adam {
public:
    explicit AdamW(ParameterList parameters, const AdamWOptions& options = {});
    const char* kind() const noexcept override { return "AdamW"; }

private:
    void load_extra(const OptimizerState& s) override;
};

struct RMSpropOptions {
    double lr = 0.01;     // torch.optim.RMSprop's default
    double alpha = 0.99;  // smoothing of the mean square
    double eps = 1e-8;
    double weight_decay = 0.0;
    double momentum = 0.0;
    bool centered = false;  // divide by an estimate of the variance instead of the mean square
};

class RMSprop : public Optimizer {
public:
    explicit RMSprop(ParameterList parameters, const RMSpropOptions& options = {});
    void step() override;
    const RMSpropOptions& options() const noexcept { return options_; }
    const char* kind() const noexcept override { return "RMSprop"; }

private:
    void save_extra(OptimizerState& s) const override;
    void load_extra(const OptimizerState& s) override;
    RMSpropOptions options_;
    std::vector<double> square_avg_, grad_avg_,
        momentum_;  // grad_avg_ zeros unless centered, momentum_ unless momentum
};

// Scales the gradients of `parameters` so that their global 2-norm (all
// gradients as one vector) is at most max_norm, as
// torch.nn.utils.clip_grad_norm_: with N the norm, every gradient is
// multiplied by max_norm / (N + 1e-6) when that is below 1, else left
// alone. Returns N, the norm before clipping. max_norm must be > 0; a
// non-finite N (a NaN or infinite gradient) throws std::runtime_error
// naming it, as torch's error_if_nonfinite = True, rather than spreading
// NaNs into every parameter.
double clip_grad_norm(const ParameterList& parameters, double max_norm);

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
    virtual void step() { optimizer_->set_lr(lr_at(++epoch_)); }
    // The step after an epoch with the figure a schedule may watch (the
    // Trainer passes the epoch's validation loss, or its training loss
    // without validation); the epoch-based schedules ignore it.
    virtual void step(double metric) {
        (void)metric;
        step();
    }
    std::size_t epoch() const noexcept { return epoch_; }
    double base_lr() const noexcept { return base_lr_; }
    // Where a checkpoint left the schedule (load_checkpoint): the epoch and
    // the base rate; the optimizer's rate is restored with its own state.
    void restore(std::size_t epoch, double base_lr);
    // State beyond the epoch and the base rate (ReduceLROnPlateau's), by
    // name, for checkpoints; load_extra_state takes what extra_state gave.
    virtual std::vector<std::pair<std::string, double>> extra_state() const { return {}; }
    virtual void load_extra_state(const std::vector<std::pair<std::string, double>>& state) { (void)state; }

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

// lr = base · gamma^epoch  (torch.optim.lr_scheduler.ExponentialLR)
class ExponentialLR : public LRSchedule {
public:
    ExponentialLR(Optimizer& optimizer, double gamma);
    double lr_at(std::size_t epoch) const override;

private:
    double gamma_;
};

struct WarmupOptions {
    std::size_t warmup_epochs = 5;
    double start_factor = 0.1;  // the first epoch's rate, as a fraction of the base rate; in (0, 1]
};

// Linear warm-up, then another schedule (or the base rate):
//     epoch < w:  lr = base · (s + (1 − s) · epoch / w)
//     epoch ≥ w:  lr = then.lr_at(epoch − w), or base without `then`
// The warm-up is torch's LinearLR(start_factor = s, end_factor = 1,
// total_iters = w); followed by `then` it is SequentialLR([warmup, then],
// milestones = [w]): `then` starts from its own epoch 0 when the warm-up
// ends. Make `then` first, on the same optimizer (it takes the base rate
// from it); only the warm-up is stepped, `then` is only read. The warm-up
// sets the optimizer's rate to lr_at(0) at once (as torch's schedulers do).
// Epochs, not batches: for a warm-up over the first steps, call step()
// after each batch yourself.
class WarmupLR : public LRSchedule {
public:
    WarmupLR(Optimizer& optimizer, const WarmupOptions& options, const LRSchedule* then = nullptr);
    double lr_at(std::size_t epoch) const override;

private:
    WarmupOptions options_;
    const LRSchedule* then_;
};

enum class PlateauMode { Min, Max };

struct PlateauOptions {
    PlateauMode mode = PlateauMode::Min;  // Min: a lower metric is better (a loss)
    double factor = 0.1;                  // new lr = lr · factor, in (0, 1)
    std::size_t patience = 10;            // epochs without improvement tolerated
    double threshold = 1e-4;   // relative: better means < best · (1 − threshold) (Max: > best · (1 + threshold))
    std::size_t cooldown = 0;  // epochs after a reduction during which epochs without improvement are not counted
    double min_lr = 0.0;
    double eps = 1e-8;  // a reduction smaller than this is skipped
};

// torch.optim.lr_scheduler.ReduceLROnPlateau (threshold_mode 'rel'): after
// each epoch, step(metric); when the metric has not improved on the best
// seen for more than `patience` epochs, the rate is multiplied by factor
// (not below min_lr). The Trainer passes the validation loss, else the
// training loss. step() without a metric throws std::logic_error. lr_at(e)
// is the optimizer's current rate whatever e: the rate depends on the
// metrics seen, not on the epoch.
class ReduceLROnPlateau : public LRSchedule {
public:
    explicit ReduceLROnPlateau(Optimizer& optimizer, const PlateauOptions& options = {});
    double lr_at(std::size_t epoch) const override;
    void step() override;
    void step(double metric) override;
    // The best metric so far (±infinity before the first step), and the epochs since it.
    double best() const noexcept { return best_; }
    std::size_t bad_epochs() const noexcept { return bad_epochs_; }
    std::vector<std::pair<std::string, double>> extra_state() const override;
    void load_extra_state(const std::vector<std::pair<std::string, double>>& state) override;

private:
    PlateauOptions options_;
    double best_;
    std::size_t bad_epochs_ = 0, cooldown_left_ = 0;
};

}  // namespace ag::nn
