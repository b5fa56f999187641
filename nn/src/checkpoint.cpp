#include <nn/checkpoint.hpp>

#include <fmt/format.h>

#include <cmath>
#include <stdexcept>
#include <string>

namespace ag::nn {

namespace {

// The training state as entries over buffers: `state` and `progress` must
// outlive the returned entries.
struct StateEntries {
    OptimizerState state;
    std::vector<double> scalars;  // the state's scalars, then epochs done, then the schedule's epoch and base lr
    std::vector<double> blocks;
    std::vector<std::pair<std::string, double>> schedule_extra;  // LRSchedule::extra_state()
};

std::vector<NamedParameter> entries(StateEntries& e, bool with_schedule) {
    std::vector<NamedParameter> out;
    const std::string prefix = "@optimizer." + e.state.kind + ".";
    std::size_t k = 0;
    for (const auto& [name, value] : e.state.scalars)
        out.emplace_back(prefix + name, std::vector<std::size_t>{}, std::span<double>(&e.scalars[k++], 1));
    for (auto& [name, values] : e.state.buffers)
        out.emplace_back(prefix + name, std::vector<std::size_t>{values.size()}, std::span<double>(values));
    out.emplace_back(prefix + "blocks", std::vector<std::size_t>{e.blocks.size()}, std::span<double>(e.blocks));
    out.emplace_back("@training.epochs_done", std::vector<std::size_t>{}, std::span<double>(&e.scalars[k++], 1));
    if (with_schedule) {
        out.emplace_back("@schedule.epoch", std::vector<std::size_t>{}, std::span<double>(&e.scalars[k++], 1));
        out.emplace_back("@schedule.base_lr", std::vector<std::size_t>{}, std::span<double>(&e.scalars[k++], 1));
        for (auto& [name, value] : e.schedule_extra)
            out.emplace_back("@schedule." + name, std::vector<std::size_t>{}, std::span<double>(&value, 1));
    }
    return out;
}

StateEntries state_of(const Optimizer& optimizer, std::size_t epochs_done, const LRSchedule* schedule) {
    StateEntries e{.state = optimizer.state(), .scalars = {}, .blocks = {}, .schedule_extra = {}};
    for (const auto& [name, value] : e.state.scalars) e.scalars.push_back(value);
    e.scalars.push_back(static_cast<double>(epochs_done));
    e.scalars.push_back(schedule ? static_cast<double>(schedule->epoch()) : 0.0);
    e.scalars.push_back(schedule ? schedule->base_lr() : 0.0);
    e.blocks.assign(e.state.blocks.begin(), e.state.blocks.end());
    if (schedule != nullptr) e.schedule_extra = schedule->extra_state();
    return e;
}

std::size_t count_from(const std::filesystem::path& path, const char* what, double x) {
    if (!(x >= 0.0 && x <= 0x1p53) || x != std::floor(x))
        throw LoadError(LoadErrorKind::Corrupted, fmt::format("load_checkpoint: '{}': corrupted file: {} is {}, not a "
                                                              "whole number >= 0",
                                                              path.string(), what, x));
    return static_cast<std::size_t>(x);
}

}  // namespace

void save_checkpoint(const std::vector<NamedParameter>& model, const Optimizer& optimizer, std::size_t epochs_done,
                     const LRSchedule* schedule, const std::filesystem::path& path) {
    for (const NamedParameter& p : model)
        if (!p.name().empty() && p.name()[0] == '@')
            throw std::invalid_argument(
                fmt::format("save_checkpoint: '{}': the model's parameter '{}' starts with '@', "
                            "which marks a checkpoint's training state",
                            path.string(), p.name()));
    StateEntries e = state_of(optimizer, epochs_done, schedule);
    std::vector<NamedParameter> all = model;
    for (NamedParameter& p : entries(e, schedule != nullptr)) all.push_back(std::move(p));
    save(all, path);
}

std::size_t load_checkpoint(const std::vector<NamedParameter>& model, Optimizer& optimizer, LRSchedule* schedule,
                            const std::filesystem::path& path) {
    // Everything is read into buffers first, and checked, before the
    // model, the optimizer or the schedule changes.
    std::vector<std::vector<double>> model_values;
    model_values.reserve(model.size());
    std::vector<NamedParameter> all;
    for (const NamedParameter& p : model) {
        model_values.emplace_back(p.size());
        all.emplace_back(p.name(), p.shape(), std::span<double>(model_values.back()));
    }
    StateEntries e = state_of(optimizer, 0, schedule);
    for (NamedParameter& p : entries(e, schedule != nullptr)) all.push_back(std::move(p));
    load(all, path);

    std::size_t k = 0;
    for (auto& [name, value] : e.state.scalars) value = e.scalars[k++];
    const std::size_t epochs_done = count_from(path, "@training.epochs_done", e.scalars[k++]);
    const std::size_t schedule_epoch = count_from(path, "@schedule.epoch", e.scalars[k++]);
    const double base_lr = e.scalars[k++];
    if (schedule != nullptr && (!(base_lr >= 0.0) || !std::isfinite(base_lr)))
        throw LoadError(
            LoadErrorKind::Corrupted,
            fmt::format("load_checkpoint: '{}': corrupted file: @schedule.base_lr is {}", path.string(), base_lr));
    for (std::size_t i = 0; i < e.blocks.size(); ++i) e.state.blocks[i] = count_from(path, "a block size", e.blocks[i]);
    const OptimizerState before = optimizer.state();
    try {
        optimizer.load_state(e.state);  // checks, then changes
        // The schedule's own state (ReduceLROnPlateau's) checks, then
        // changes; when it refuses, the optimizer is put back.
        if (schedule != nullptr) {
            try {
                schedule->load_extra_state(e.schedule_extra);
            } catch (...) {
                optimizer.load_state(before);
                throw;
            }
        }
    } catch (const std::invalid_argument& error) {
        throw LoadError(LoadErrorKind::Corrupted,
                        fmt::format("load_checkpoint: '{}': corrupted file: {}", path.string(), error.what()));
    }
    if (schedule != nullptr) schedule->restore(schedule_epoch, base_lr);
    for (std::size_t i = 0; i < model.size(); ++i) model[i].set_values(model_values[i]);
    return epochs_done;
}

}  // namespace ag::nn
