#include <nn/data.hpp>

#include <nn/serialize.hpp>

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <map>
#include <numbers>
#include <stdexcept>

namespace ag::nn {

// --------------------------------------------------------------- Dataset ---

std::vector<std::int64_t> Dataset::class_labels() const {
    std::vector<std::int64_t> out(labels.size());
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const double y = labels[i];
        if (!is_class_index(y))
            throw std::invalid_argument(
                fmt::format("class labels: row {} has label {}, not a class index (a whole number >= 0)", i, y));
        out[i] = static_cast<std::int64_t>(y);
    }
    return out;
}

std::size_t Dataset::n_classes() const {
    std::int64_t top = -1;
    for (std::int64_t c : class_labels()) top = std::max(top, c);
    return static_cast<std::size_t>(top + 1);
}

Dataset Dataset::subset(std::span<const std::size_t> rows) const {
    Dataset out;
    out.n_features = n_features;
    out.column_names = column_names;
    out.features.reserve(rows.size() * n_features);
    for (std::size_t r : rows) {
        if (r >= size())
            throw std::out_of_range(fmt::format("Dataset::subset: row {} of a data set of {} rows", r, size()));
        const auto x = row(r);
        out.features.insert(out.features.end(), x.begin(), x.end());
        if (!labels.empty()) out.labels.push_back(labels[r]);
    }
    return out;
}

// ------------------------------------------------------------------- CSV ---

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
    return s;
}

// Delimiters people use for CSV files; one of them in a line that did not
// split as expected suggests the file uses it.
constexpr std::string_view common_delimiters = ",;\t|";

std::string delimiter_name(char c) { return c == '\t' ? std::string("\\t") : std::string(1, c); }

// " (the line contains ';': ...)" when `text` holds a common delimiter other
// than the one in use, else "".
std::string delimiter_hint(std::string_view text, char delimiter) {
    for (char c : common_delimiters)
        if (c != delimiter && text.find(c) != std::string_view::npos)
            return fmt::format(
                " (the line contains '{0}': if the file is separated by '{0}', set CsvOptions::delimiter "
                "= '{0}')",
                delimiter_name(c));
    return "";
}

// The fields of one line. A field may be quoted as in RFC 4180 ("a,b",
// "say ""hi"""): the quotes are removed, a doubled quote is one quote, and a
// delimiter inside quotes belongs to the field. Unquoted fields are trimmed
// of spaces and tabs. A quoted field cannot span lines.
std::vector<std::string> split_fields(std::string_view line, char delimiter, std::string_view source,
                                      std::size_t line_no) {
    std::vector<std::string> fields;
    std::size_t at = 0;
    while (true) {
        while (at < line.size() && (line[at] == ' ' || line[at] == '\t') && line[at] != delimiter) ++at;
        std::string field;
        if (at < line.size() && line[at] == '"') {
            const std::size_t column = fields.size() + 1;
            ++at;
            while (true) {
                if (at >= line.size())
                    throw std::invalid_argument(fmt::format(
                        "read_csv: {}: line {}, column {}: a quoted field is not closed (quoted fields cannot span "
                        "lines){}",
                        source, line_no, column, delimiter_hint(line, delimiter)));
                if (line[at] == '"') {
                    if (at + 1 < line.size() && line[at + 1] == '"') {
                        field += '"';
                        at += 2;
                        continue;
                    }
                    ++at;
                    break;
                }
                field += line[at++];
            }
            const std::size_t end = std::min(line.find(delimiter, at), line.size());
            if (!trim(line.substr(at, end - at)).empty())
                throw std::invalid_argument(fmt::format(
                    "read_csv: {}: line {}, column {}: '{}' follows the closing quote of a quoted field{}", source,
                    line_no, column, trim(line.substr(at, end - at)), delimiter_hint(line, delimiter)));
            at = end;
        } else {
            const std::size_t end = std::min(line.find(delimiter, at), line.size());
            field = trim(line.substr(at, end - at));
            at = end;
        }
        fields.push_back(std::move(field));
        if (at >= line.size()) break;
        ++at;  // the delimiter
    }
    return fields;
}

std::optional<double> parse_number(std::string_view s) {
    if (!s.empty() && s.front() == '+') s.remove_prefix(1);
    double x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (s.empty() || ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
    return x;
}

}  // namespace

Dataset parse_csv(std::string_view text, const CsvOptions& options, std::string_view source) {
    Dataset out;
    std::size_t n_columns = 0, first_data_line = 0, label_index = 0, line_no = 0;
    bool first_line = true;
    std::string_view header_line;
    while (!text.empty()) {
        const std::size_t nl = text.find('\n');
        const std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        ++line_no;
        if (trim(line).empty()) continue;
        std::vector<std::string> fields = split_fields(line, options.delimiter, source, line_no);
        if (first_line) {
            first_line = false;
            bool header = options.header == Header::Yes;
            if (options.header == Header::Auto)
                header = std::any_of(fields.begin(), fields.end(), [](std::string_view f) { return !parse_number(f); });
            if (header) {
                out.column_names = std::move(fields);
                header_line = line;
                continue;
            }
        }
        if (first_data_line == 0) {
            // The first data row sets the row length (a header may differ:
            // sklearn's files start with "n_samples,n_features,names...").
            first_data_line = line_no;
            n_columns = fields.size();
            if (options.label_column) {
                const int c = *options.label_column;
                const auto n = static_cast<int>(n_columns);
                if (c >= n || c < -n)
                    throw std::invalid_argument(
                        fmt::format("read_csv: {}: label column {} does not exist (line {} has {} columns)", source, c,
                                    line_no, n_columns));
                if (n_columns < 2)
                    throw std::invalid_argument(
                        fmt::format("read_csv: {}: line {} has only the label column; no features are left{}", source,
                                    line_no, delimiter_hint(line, options.delimiter)));
                label_index = static_cast<std::size_t>(c < 0 ? n + c : c);
            }
            out.n_features = options.label_column ? n_columns - 1 : n_columns;
        }
        if (fields.size() != n_columns)
            throw std::invalid_argument(
                fmt::format("read_csv: {}: line {} has {} fields, expected {} (as on line {}){}", source, line_no,
                            fields.size(), n_columns, first_data_line, delimiter_hint(line, options.delimiter)));
        for (std::size_t c = 0; c < fields.size(); ++c) {
            const std::optional<double> x = parse_number(fields[c]);
            if (!x)
                throw std::invalid_argument(fmt::format("read_csv: {}: line {}, column {}: '{}' is not a number{}",
                                                        source, line_no, c + 1, fields[c],
                                                        delimiter_hint(fields[c], options.delimiter)));
            if (options.label_column && c == label_index)
                out.labels.push_back(*x);
            else
                out.features.push_back(*x);
        }
    }
    if (first_data_line == 0)
        throw std::invalid_argument(
            fmt::format("read_csv: {}: no data rows{}", source,
                        out.column_names.size() == 1 ? delimiter_hint(header_line, options.delimiter) : std::string()));
    return out;
}

Dataset read_csv(const std::string& path, const CsvOptions& options) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec))
        throw std::runtime_error(fmt::format("read_csv: cannot open '{}': no such file", path));
    gzFile f = gzopen(path.c_str(), "rb");
    if (f == nullptr)
        throw std::runtime_error(fmt::format("read_csv: cannot open '{}': {}", path, std::strerror(errno)));
    std::string text;
    char buffer[1 << 16];
    int got;
    while ((got = gzread(f, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<std::size_t>(got));
    int err = Z_OK;
    const std::string message = gzerror(f, &err);
    gzclose(f);
    if (got < 0 || (err != Z_OK && err != Z_STREAM_END))
        throw std::runtime_error(fmt::format("read_csv: '{}': corrupt or truncated gzip data ({})", path, message));
    return parse_csv(text, options, path);
}

// ------------------------------------------------------ standardization ---

Standardizer::Standardizer(const Dataset& train) {
    const std::size_t n = train.size(), d = train.n_features;
    if (n == 0) throw std::invalid_argument("Standardizer: the training set is empty");
    mean_.assign(d, 0.0);
    scale_.assign(d, 0.0);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) mean_[j] += train.feature(i, j);
    for (double& m : mean_) m /= static_cast<double>(n);
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = 0; j < d; ++j) {
            const double dx = train.feature(i, j) - mean_[j];
            scale_[j] += dx * dx;
        }
    for (double& s : scale_) {
        s = std::sqrt(s / static_cast<double>(n));
        if (s == 0.0) s = 1.0;
    }
}

void Standardizer::transform(Dataset& data) const {
    if (data.n_features != mean_.size())
        throw std::invalid_argument(
            fmt::format("Standardizer::transform: data has {} features, fitted on {}", data.n_features, mean_.size()));
    for (std::size_t i = 0; i < data.features.size(); ++i) {
        const std::size_t j = i % data.n_features;
        data.features[i] = (data.features[i] - mean_[j]) / scale_[j];
    }
}

void Standardizer::transform(std::span<double> row) const {
    if (row.size() != mean_.size())
        throw std::invalid_argument(fmt::format("Standardizer::transform: the row has {} values, fitted on {} features",
                                                row.size(), mean_.size()));
    for (std::size_t j = 0; j < row.size(); ++j) row[j] = (row[j] - mean_[j]) / scale_[j];
}

std::vector<double> Standardizer::transform_row(std::span<const double> row) const {
    std::vector<double> out(row.begin(), row.end());
    transform(std::span<double>(out));
    return out;
}

std::vector<NamedParameter> Standardizer::named_parameters(const std::string& prefix) {
    return {NamedParameter(prefix + "mean", {mean_.size()}, std::span<double>(mean_)),
            NamedParameter(prefix + "scale", {scale_.size()}, std::span<double>(scale_))};
}

void save(const std::vector<NamedParameter>& model, const Standardizer& standardizer,
          const std::filesystem::path& path) {
    Standardizer copy = standardizer;  // named_parameters() views its numbers; save() only reads them
    std::vector<NamedParameter> all = model;
    for (NamedParameter& p : copy.named_parameters()) all.push_back(std::move(p));
    save(all, path);
}

void load(const std::vector<NamedParameter>& model, Standardizer& standardizer, const std::filesystem::path& path) {
    if (standardizer.n_features() == 0)
        throw std::invalid_argument(
            fmt::format("load: '{}': the Standardizer to load into is empty; make it with "
                        "Standardizer(n_features)",
                        path.string()));
    // Into buffers first, checked, then into the model and the standardizer.
    std::vector<std::vector<double>> values;
    values.reserve(model.size());
    std::vector<NamedParameter> all;
    for (const NamedParameter& p : model) {
        values.emplace_back(p.size());
        all.emplace_back(p.name(), p.shape(), std::span<double>(values.back()));
    }
    Standardizer loaded(standardizer.n_features());
    for (NamedParameter& p : loaded.named_parameters()) all.push_back(std::move(p));
    load(all, path);
    for (std::size_t j = 0; j < loaded.n_features(); ++j) {
        const double m = loaded.mean()[j], s = loaded.scale()[j];
        if (!std::isfinite(m) || !(s > 0.0) || !std::isfinite(s))
            throw LoadError(LoadErrorKind::Corrupted,
                            fmt::format("load: '{}': feature {} of the standardizer has mean {} and scale {}; the "
                                        "scale must be a finite number > 0, the mean finite",
                                        path.string(), j, m, s));
    }
    for (std::size_t i = 0; i < model.size(); ++i) model[i].set_values(values[i]);
    standardizer = std::move(loaded);
}

// ---------------------------------------------------------------- split ---

namespace detail {

RowSplit stratified_split(std::size_t n, std::span<const double> keys, double fraction, Rng& rng) {
    std::map<double, std::vector<std::size_t>> groups;
    for (std::size_t i = 0; i < n; ++i) groups[keys.empty() ? 0.0 : keys[i]].push_back(i);
    RowSplit split;
    for (auto& [key, rows] : groups) {
        rng.shuffle(std::span<std::size_t>(rows));
        const auto k = static_cast<std::ptrdiff_t>(std::llround(fraction * static_cast<double>(rows.size())));
        split.held_out.insert(split.held_out.end(), rows.begin(), rows.begin() + k);
        split.kept.insert(split.kept.end(), rows.begin() + k, rows.end());
    }
    return split;
}

}  // namespace detail

Split train_test_split(const Dataset& data, double test_fraction, std::uint64_t seed, bool stratify) {
    if (!(test_fraction > 0.0 && test_fraction < 1.0))
        throw std::invalid_argument(fmt::format("train_test_split: test_fraction {} is not in (0, 1)", test_fraction));
    const std::size_t n = data.size();
    if (!data.labels.empty() && data.labels.size() != n)
        throw std::invalid_argument(
            fmt::format("train_test_split: the data set has {} labels for {} rows", data.labels.size(), n));
    // Stratified only by class indices: with real-valued (regression)
    // targets every distinct value would be a class of one row, and
    // round(fraction · 1) = 0 would send every row to training.
    const bool by_class =
        stratify && !data.labels.empty() &&
        std::all_of(data.labels.begin(), data.labels.end(), [](double y) { return is_class_index(y); });
    if (by_class) {
        std::map<double, std::size_t> counts;
        for (double y : data.labels) ++counts[y];
        for (const auto& [label, count] : counts)
            if (count < 2)
                throw std::invalid_argument(fmt::format(
                    "train_test_split: class {} has only 1 row; a stratified split needs at least 2 rows of each class "
                    "(for whole-number regression targets, or to keep a rare class, pass stratify = false)",
                    label));
    }
    Rng rng(seed);
    detail::RowSplit rows = detail::stratified_split(
        n, by_class ? std::span<const double>(data.labels) : std::span<const double>(), test_fraction, rng);
    if (rows.kept.empty() || rows.held_out.empty())
        throw std::invalid_argument(
            fmt::format("train_test_split: test_fraction {} of {} rows gives {} training and {} test rows; each part "
                        "needs at least one",
                        test_fraction, n, rows.kept.size(), rows.held_out.size()));
    // The parts come out grouped by label; shuffled, so that neither is sorted by class.
    rng.shuffle(std::span<std::size_t>(rows.kept));
    rng.shuffle(std::span<std::size_t>(rows.held_out));
    return {data.subset(rows.kept), data.subset(rows.held_out)};
}

// ------------------------------------------------------------ synthetic ---

namespace {

// n values evenly from lo to hi; hi itself included when `endpoint`.
double linspace(std::size_t i, std::size_t n, double lo, double hi, bool endpoint) {
    const std::size_t intervals = endpoint ? n - 1 : n;
    return intervals == 0 ? lo : lo + (hi - lo) * static_cast<double>(i) / static_cast<double>(intervals);
}

Dataset shuffled_with_noise(Dataset d, double noise, Rng& rng) {
    std::vector<std::size_t> order(d.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    rng.shuffle(std::span<std::size_t>(order));
    Dataset out = d.subset(order);
    if (noise != 0.0)
        for (double& x : out.features) x += rng.normal(0.0, noise);
    return out;
}

void check_noise(const char* who, double noise) {
    if (!(noise >= 0.0) || !std::isfinite(noise))
        throw std::invalid_argument(fmt::format("{}: noise must be >= 0, got {}", who, noise));
}

void add_point(Dataset& d, double x, double y, double label) {
    d.features.push_back(x);
    d.features.push_back(y);
    d.labels.push_back(label);
}

}  // namespace

Dataset make_moons(std::size_t n_samples, double noise, std::uint64_t seed) {
    check_noise("make_moons", noise);
    Dataset d;
    d.n_features = 2;
    const std::size_t n_out = n_samples / 2, n_in = n_samples - n_out;
    for (std::size_t i = 0; i < n_out; ++i) {
        const double t = linspace(i, n_out, 0.0, std::numbers::pi, true);
        add_point(d, std::cos(t), std::sin(t), 0.0);
    }
    for (std::size_t i = 0; i < n_in; ++i) {
        const double t = linspace(i, n_in, 0.0, std::numbers::pi, true);
        add_point(d, 1.0 - std::cos(t), 1.0 - std::sin(t) - 0.5, 1.0);
    }
    Rng rng(seed);
    return shuffled_with_noise(std::move(d), noise, rng);
}

Dataset make_circles(std::size_t n_samples, double noise, std::uint64_t seed, double factor) {
    check_noise("make_circles", noise);
    if (!(factor >= 0.0 && factor < 1.0))
        throw std::invalid_argument(fmt::format("make_circles: factor must be in [0, 1), got {}", factor));
    Dataset d;
    d.n_features = 2;
    const std::size_t n_out = n_samples / 2, n_in = n_samples - n_out;
    for (std::size_t i = 0; i < n_out; ++i) {
        const double t = linspace(i, n_out, 0.0, 2 * std::numbers::pi, false);
        add_point(d, std::cos(t), std::sin(t), 0.0);
    }
    for (std::size_t i = 0; i < n_in; ++i) {
        const double t = linspace(i, n_in, 0.0, 2 * std::numbers::pi, false);
        add_point(d, factor * std::cos(t), factor * std::sin(t), 1.0);
    }
    Rng rng(seed);
    return shuffled_with_noise(std::move(d), noise, rng);
}

Dataset make_spirals(std::size_t n_samples, double noise, std::uint64_t seed, std::size_t n_classes) {
    check_noise("make_spirals", noise);
    if (n_classes == 0) throw std::invalid_argument("make_spirals: needs at least one class");
    Dataset d;
    d.n_features = 2;
    Rng rng(seed);
    for (std::size_t j = 0; j < n_classes; ++j) {
        // Classes get n / K points each, the first n % K one more.
        const std::size_t n = n_samples / n_classes + (j < n_samples % n_classes ? 1 : 0);
        for (std::size_t i = 0; i < n; ++i) {
            const double r = linspace(i, n, 0.0, 1.0, true);
            const double theta = 4.0 * static_cast<double>(j) + 4.0 * r + rng.normal(0.0, noise);
            add_point(d, r * std::sin(theta), r * std::cos(theta), static_cast<double>(j));
        }
    }
    return shuffled_with_noise(std::move(d), 0.0, rng);
}

Dataset make_xor(std::size_t n_samples, double noise, std::uint64_t seed) {
    check_noise("make_xor", noise);
    Dataset d;
    d.n_features = 2;
    for (std::size_t i = 0; i < n_samples; ++i) {
        const int a = (i % 4) / 2, b = i % 2;
        add_point(d, a, b, a ^ b);
    }
    Rng rng(seed);
    if (noise != 0.0)
        for (double& x : d.features) x += rng.normal(0.0, noise);
    return d;
}

}  // namespace ag::nn
