#include "gradbench.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cmath>

namespace gradbench {

// The modules, one file each.
extern const Module hello_module, det_module, llsq_module, lse_module, ode_module, gmm_module, lstm_module, ba_module,
    ht_module, kmeans_module, particle_module, saddle_module;

namespace {

const std::vector<Module>& module_table() {
    static const std::vector<Module> table = [] {
        return std::vector<Module>{hello_module, det_module,    llsq_module,     lse_module,
                                   ode_module,   gmm_module,    lstm_module,     ba_module,
                                   ht_module,    kmeans_module, particle_module, saddle_module};
    }();
    return table;
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::null: return "null";
        case json::value_t::object: return "an object";
        case json::value_t::array: return "a list";
        case json::value_t::string: return "a string";
        case json::value_t::boolean: return "a boolean";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned: return "an integer";
        case json::value_t::number_float: return "a number";
        default: return "something else";
    }
}

// A short rendering of a value for error texts (a long list is cut).
std::string brief(const json& v) {
    std::string s = v.dump(-1, ' ', false, json::error_handler_t::replace);
    if (s.size() > 60) s = s.substr(0, 57) + "...";
    return s;
}

// The path of the first NaN or infinity in `v` ("" when there is none).
bool find_non_finite(const json& v, std::string& path, double& bad) {
    if (v.is_number_float()) {
        bad = v.get<double>();
        return !std::isfinite(bad);
    }
    if (v.is_array()) {
        for (std::size_t i = 0; i < v.size(); ++i)
            if (find_non_finite(v[i], path, bad)) {
                path = fmt::format("[{}]{}", i, path);
                return true;
            }
    } else if (v.is_object()) {
        for (const auto& [key, item] : v.items())
            if (find_non_finite(item, path, bad)) {
                path = fmt::format(".{}{}", key, path);
                return true;
            }
    }
    return false;
}

}  // namespace

std::span<const Module> modules() { return module_table(); }

const Module* find_module(std::string_view name) {
    for (const Module& m : module_table())
        if (m.name == name) return &m;
    return nullptr;
}

Evaluation evaluate(std::string_view module, std::string_view function, const json& input) {
    const Module* m = find_module(module);
    if (m == nullptr) throw InputError(fmt::format("unknown module '{}'", module));
    if (!m->missing.empty()) throw InputError(std::string(m->missing));
    const auto f = std::find_if(m->functions.begin(), m->functions.end(),
                                [&](const auto& entry) { return entry.first == function; });
    if (f == m->functions.end()) {
        std::string known;
        for (const auto& [name, fn] : m->functions) known += fmt::format("{}'{}'", known.empty() ? "" : ", ", name);
        throw InputError(fmt::format("{} has no function '{}' (it has {})", module, function, known));
    }
    Evaluation e = f->second(input);
    std::string path;
    double bad = 0;
    if (find_non_finite(e.output, path, bad))
        throw InputError(fmt::format("{}::{}: the output holds {} at output{}, which JSON cannot carry", module,
                                     function, bad, path));
    return e;
}

Runs runs_of(const json& input) {
    Runs r;
    if (!input.is_object()) return r;
    if (input.contains("min_runs")) r.min_runs = integer(input["min_runs"], "input.min_runs", 1, std::int64_t{1} << 40);
    if (input.contains("min_seconds")) {
        r.min_seconds = number(input["min_seconds"], "input.min_seconds");
        if (r.min_seconds < 0) throw InputError(fmt::format("input.min_seconds is {}; it must be >= 0", r.min_seconds));
    }
    return r;
}

const json& member(const json& object, std::string_view name, std::string_view what) {
    if (!object.is_object()) throw InputError(fmt::format("{} is {}, not an object", what, type_name(object)));
    const auto it = object.find(name);
    if (it == object.end()) throw InputError(fmt::format("{} has no field '{}'", what, name));
    return *it;
}

double number(const json& v, std::string_view what) {
    if (!v.is_number()) throw InputError(fmt::format("{} is {} ({}), not a number", what, type_name(v), brief(v)));
    const double x = v.get<double>();
    if (!std::isfinite(x)) throw InputError(fmt::format("{} is {}; it must be finite", what, x));
    return x;
}

std::int64_t integer(const json& v, std::string_view what, std::int64_t lo, std::int64_t hi) {
    std::int64_t x = 0;
    if (v.is_number_unsigned()) {
        const auto u = v.get<std::uint64_t>();
        if (u > static_cast<std::uint64_t>(hi))
            throw InputError(fmt::format("{} is {}; it must be between {} and {}", what, u, lo, hi));
        x = static_cast<std::int64_t>(u);
    } else if (v.is_number_integer()) {
        x = v.get<std::int64_t>();
    } else {
        throw InputError(fmt::format("{} is {} ({}), not an integer", what, type_name(v), brief(v)));
    }
    if (x < lo || x > hi) throw InputError(fmt::format("{} is {}; it must be between {} and {}", what, x, lo, hi));
    return x;
}

std::vector<double> numbers(const json& v, std::string_view what, std::optional<std::size_t> n) {
    if (!v.is_array())
        throw InputError(fmt::format("{} is {} ({}), not a list of numbers", what, type_name(v), brief(v)));
    if (n && v.size() != *n) throw InputError(fmt::format("{} has {} numbers; {} expected", what, v.size(), *n));
    std::vector<double> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) {
        const json& x = v[i];
        // The common case without building a name; number() throws, naming the element.
        if (!x.is_number() || !std::isfinite(x.get<double>())) [[unlikely]]
            number(x, fmt::format("{}[{}]", what, i));
        out.push_back(x.get<double>());
    }
    return out;
}

Matrix matrix(const json& v, std::string_view what, std::optional<std::size_t> rows, std::optional<std::size_t> cols) {
    if (!v.is_array())
        throw InputError(fmt::format("{} is {} ({}), not a list of lists", what, type_name(v), brief(v)));
    if (rows && v.size() != *rows) throw InputError(fmt::format("{} has {} rows; {} expected", what, v.size(), *rows));
    Matrix m;
    m.rows = v.size();
    if (cols)
        m.cols = *cols;
    else if (!v.empty() && v[0].is_array())
        m.cols = v[0].size();
    m.values.reserve(m.rows * m.cols);
    for (std::size_t i = 0; i < m.rows; ++i) {
        const std::string row_name = fmt::format("{}[{}]", what, i);
        std::vector<double> row = numbers(v[i], row_name);
        if (row.size() != m.cols)
            throw InputError(cols ? fmt::format("{} has {} numbers; {} expected", row_name, row.size(), m.cols)
                                  : fmt::format("{} has {} numbers; row 0 has {}", row_name, row.size(), m.cols));
        m.values.insert(m.values.end(), row.begin(), row.end());
    }
    return m;
}

std::vector<std::int64_t> integers(const json& v, std::string_view what, std::int64_t lo, std::int64_t hi,
                                   std::optional<std::size_t> n) {
    if (!v.is_array())
        throw InputError(fmt::format("{} is {} ({}), not a list of integers", what, type_name(v), brief(v)));
    if (n && v.size() != *n) throw InputError(fmt::format("{} has {} integers; {} expected", what, v.size(), *n));
    std::vector<std::int64_t> out;
    out.reserve(v.size());
    for (std::size_t i = 0; i < v.size(); ++i) out.push_back(integer(v[i], fmt::format("{}[{}]", what, i), lo, hi));
    return out;
}

std::vector<ag::Value> leaves(std::span<const double> values) {
    std::vector<ag::Value> out;
    out.reserve(values.size());
    for (const double x : values) out.emplace_back(x);
    return out;
}

std::vector<double> grads(std::span<const ag::Value> values) {
    std::vector<double> out;
    out.reserve(values.size());
    for (const ag::Value& v : values) out.push_back(v.grad());
    return out;
}

}  // namespace gradbench
