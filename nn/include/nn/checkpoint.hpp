#pragma once
// Checkpoints: a model's parameters, its optimizer's state and how far
// training got, in one file, so that training resumes exactly where it
// stopped (the same parameters after N more epochs as an uninterrupted run):
//
//     ag::nn::save_checkpoint(model, adam, /*epochs_done=*/5, &schedule, "run.ckpt");
//     ...  // a new process: the same model, optimizer and schedule, freshly made
//     const std::size_t done = ag::nn::load_checkpoint(model, adam, &schedule, "run.ckpt");
//
// The Trainer does this by itself with TrainOptions::checkpoint and resume.
//
// The file is save()'s format (nn/serialize.hpp): the model's parameters,
// then training state as more named entries of doubles, their names
// starting with '@' (no model parameter does):
//   @optimizer.<Kind>.<scalar>  []   lr, steps, and the hyperparameters:
//                                    SGD momentum, nesterov (0 or 1), weight_decay;
//                                    Adam beta1, beta2, eps, weight_decay,
//                                    decoupled_weight_decay (0 or 1)
//   @optimizer.<Kind>.<buffer>  [n]  SGD velocity; Adam m, v (n: the scalars
//                                    of the optimizer's parameters, in
//                                    ParameterList order)
//   @optimizer.<Kind>.blocks    [k]  the sizes of the optimizer's parameter blocks
//   @training.epochs_done       []
//   @schedule.epoch, @schedule.base_lr  []   when a schedule is given
//   @schedule.<name>            []   its extra_state(): ReduceLROnPlateau's
//                                    best, bad_epochs, cooldown_left
// <Kind> is SGD, Adam, AdamW or RMSprop (RMSprop: alpha, eps, weight_decay,
// momentum, centered (0 or 1); buffers square_avg, grad_avg, momentum_buffer;
// AdamW: Adam's entries). Written like save(): to a new temporary file,
// flushed, renamed over `path`, so a crash while saving leaves the previous
// checkpoint whole.
//
// load_checkpoint checks everything (the file, the model's names and shapes,
// the optimizer's kind and sizes, the values of the hyperparameters) before
// it changes anything: on an error the model, optimizer and schedule are
// unchanged. The hyperparameters are restored too, as torch's
// load_state_dict does.
#include <nn/optim.hpp>
#include <nn/serialize.hpp>

#include <cstddef>
#include <filesystem>
#include <vector>

namespace ag::nn {

void save_checkpoint(const std::vector<NamedParameter>& model, const Optimizer& optimizer, std::size_t epochs_done,
                     const LRSchedule* schedule, const std::filesystem::path& path);
// Returns the epochs done when the checkpoint was written.
std::size_t load_checkpoint(const std::vector<NamedParameter>& model, Optimizer& optimizer, LRSchedule* schedule,
                            const std::filesystem::path& path);

template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
void save_checkpoint(const Model& model, const Optimizer& optimizer, std::size_t epochs_done,
                     const LRSchedule* schedule, const std::filesystem::path& path) {
    save_checkpoint(model.named_parameters(), optimizer, epochs_done, schedule, path);
}
template <class Model>
requires requires(const Model& m) { m.named_parameters(); }
std::size_t load_checkpoint(const Model& model, Optimizer& optimizer, LRSchedule* schedule,
                            const std::filesystem::path& path) {
    return load_checkpoint(model.named_parameters(), optimizer, schedule, path);
}

}  // namespace ag::nn
