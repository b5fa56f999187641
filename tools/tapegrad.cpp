// tapegrad: differentiate an expression from the shell.
//
//     tapegrad grad "(x + y) * z" x=-2 y=5 z=-4
//
// prints f, then for each variable its value, the engine's ∂f/∂var, the
// central finite difference and their difference.
//
//     tapegrad hessian "x^2*y + sin(x*y)" x=1 y=2
//
// prints f, the gradient and the Hessian (the recorded gradient swept again),
// each beside central differences (of f, and of the gradient).
//
//     tapegrad explain "(x + y) * z" x=-2 y=5 z=-4
//
// prints ag::explain's walkthrough: the forward pass node by node, then the
// reverse sweep, each node's adjoint, local derivatives (formula and number)
// and what it sends to each input; --dot/--svg/--png draw that graph, its
// edges labelled with the local derivatives.
//
// The three commands share the expression language, the NAME=VALUE
// arguments, --json and the error reporting. Exit codes: 0 ok,
// 1 evaluation error (NaN/Inf, a graph file that cannot be written),
// 2 usage or syntax error, 3 the result was printed but an --svg/--png
// picture was not drawn (no Graphviz, a graph too large for it, or it ran
// out of time; the DOT text is written beside the picture's name instead,
// and the JSON says so per file). Results go to stdout, errors and notes to
// stderr; with --json, stdout is always one JSON object (the result or the
// error), valid UTF-8 whatever bytes the arguments held (an invalid byte
// becomes U+FFFD, as Python's errors="replace" does). `--dot -` writes the
// DOT text to stdout, so it can be piped to `dot`; the table then goes to
// stderr.
//
// Choices where the issue is silent: a variable given a value but absent
// from the expression is listed with gradient 0 (as ag::grad does) and a
// note; the table lists variables in command-line order; a gradient that is
// not finite (sqrt at 0) is printed as is, with the engine's anomaly report
// as a note, and is null in JSON. Exit code 3 rather than 0 for a picture
// not drawn, since a script asked for a file that does not exist; rather
// than 1, since everything else (the result on stdout) is there. hessian
// and explain do the same for an absent variable (zero rows and columns;
// "does not depend on it" in the trace); hessian exits 0 when derivatives
// are not finite or disagree with the differences, with a note, as grad.
#include "expression.hpp"
#include "graph_files.hpp"

#include <autograd/dot.hpp>
#include <autograd/explain.hpp>
#include <autograd/functional.hpp>
#include <autograd/gradcheck.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

namespace expr = ag::expr;
using Json = nlohmann::ordered_json;  // keys in the order written

enum ExitCode { exit_ok = 0, exit_evaluation = 1, exit_usage = 2, exit_picture_not_drawn = 3 };

// Graphviz lays out a few hundred nodes in seconds (a 300-node sum of
// sin(x*i): 14 s) but soon needs many minutes (900 nodes: over five):
// larger graphs are not handed to it at all, and --render-timeout bounds
// the rest.
constexpr std::size_t max_drawn_nodes = 1000;
constexpr double default_render_timeout = 60;

struct GradArgs {
    std::string expression;
    std::vector<std::string> assignments;
    std::string dot_file, svg_file, png_file;
    bool json = false;
    std::string step_text, render_timeout_text;
    // Read from the texts above by check_options().
    double step = ag::GradCheckOptions{}.step;
    double render_timeout = default_render_timeout;
};

// One JSON object on one line of stdout. Arguments may hold any bytes and
// JSON text must be UTF-8, so invalid sequences become U+FFFD.
void print_json(const Json& j) { fmt::print("{}\n", j.dump(-1, ' ', false, Json::error_handler_t::replace)); }
// JSON has no NaN or Infinity.
Json json_number(double v) { return std::isfinite(v) ? Json(v) : Json(nullptr); }

// An error: printed with the expression and a caret under the column when
// there is one; as a JSON object on stdout too under --json.
struct Failure {
    ExitCode code;
    std::string kind;  // "syntax", "unknown function", "missing value", "usage", "domain", "output"
    std::string message;
    std::optional<std::size_t> column;
    std::size_t length = 1;
};

// The --json form of an error, on stdout (columns counted from 1).
void print_json_error(std::string_view kind, std::string_view message, std::optional<std::size_t> column) {
    Json error = {{"kind", kind}, {"message", message}};
    if (column) error["column"] = *column + 1;
    print_json(Json{{"error", error}});
}

int report(const GradArgs& args, const Failure& f) {
    fmt::print(stderr, "tapegrad: error: {}\n", f.message);
    if (f.column)
        fmt::print(stderr, "  {}\n  {}\n", args.expression, expr::pointer_line(args.expression, *f.column, f.length));
    if (args.json) print_json_error(f.kind, f.message, f.column);
    return f.code;
}

struct Assignment {
    std::string name;
    double value = 0;
};

// The whole of `text` as a number (strtod's forms), or nothing.
std::optional<double> parse_number(const std::string& text) {
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
    return v;
}

// "x=-2" -> {x, -2}; a description of what is wrong otherwise.
std::variant<Assignment, std::string> parse_assignment(const std::string& s) {
    const std::size_t eq = s.find('=');
    if (eq == std::string::npos) return fmt::format("expected NAME=VALUE, found '{}'", s);
    Assignment a{s.substr(0, eq), 0};
    const std::string text = s.substr(eq + 1);
    if (!expr::is_variable_name(a.name))
        return fmt::format("in '{}': '{}' is not a variable name (letters, digits and _, not starting with a digit)", s,
                           a.name);
    if (expr::is_reserved_name(a.name))
        return fmt::format("in '{}': '{}' is a built-in function or constant, not a variable", s, a.name);
    const std::optional<double> value = parse_number(text);
    if (!value) return fmt::format("in '{}': the value of {}, '{}', is not a number", s, a.name, text);
    if (!std::isfinite(*value)) return fmt::format("in '{}': the value of {} must be finite", s, a.name);
    a.value = *value;
    return a;
}

// A positive, finite number from an option, or what is wrong with it.
std::variant<double, std::string> parse_positive(std::string_view option, const std::string& text) {
    const std::optional<double> v = parse_number(text);
    if (!v || !(*v > 0)) return fmt::format("{} must be a positive number, found '{}'", option, text);
    if (!std::isfinite(*v)) return fmt::format("{} must be a positive finite number, found '{}'", option, text);
    return *v;
}

// Problems with the options themselves (before the expression is read).
std::optional<std::string> check_options(GradArgs& args) {
    if (!args.step_text.empty()) {
        auto step = parse_positive("--step", args.step_text);
        if (auto* problem = std::get_if<std::string>(&step)) return *problem;
        args.step = std::get<double>(step);
    }
    if (!args.render_timeout_text.empty()) {
        auto timeout = parse_positive("--render-timeout", args.render_timeout_text);
        if (auto* problem = std::get_if<std::string>(&timeout)) return *problem;
        args.render_timeout = std::get<double>(timeout);
    }
    for (const auto& [file, option] : {std::pair{&args.svg_file, "--svg"}, std::pair{&args.png_file, "--png"}})
        if (*file == "-")
            return fmt::format(
                "{} needs a file name: '-' (standard output) is for --dot only; to draw to standard "
                "output, pipe it: tapegrad grad ... --dot - | dot -T{}",
                option, std::string_view(option).substr(2));
    if (args.dot_file == "-" && args.json)
        return std::string("--dot - and --json both write to standard output; give --dot a file name, or drop --json");
    return std::nullopt;
}

struct Row {
    std::string name;
    double value = 0, grad = 0, numeric = 0, difference = 0;
    bool agrees = true;
};

// Rows of cells in columns two spaces apart.
void print_columns(std::FILE* out, const std::vector<std::vector<std::string>>& cells) {
    std::vector<std::size_t> width;
    for (const auto& line : cells) {
        width.resize(std::max(width.size(), line.size()), 0);
        for (std::size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], expr::display_width(line[c]));
    }
    for (const auto& line : cells) {
        std::string text;
        for (std::size_t c = 0; c < line.size(); ++c) {
            text += line[c];
            if (c + 1 < line.size()) text += std::string(width[c] - expr::display_width(line[c]) + 2, ' ');
        }
        fmt::print(out, "{}\n", text);
    }
}

void print_table(std::FILE* out, const GradArgs& args, double f, const std::vector<Row>& rows) {
    fmt::print(out, "f = {} = {}\n", args.expression, f);
    if (rows.empty()) return;
    std::vector<std::vector<std::string>> cells = {
        {"variable", "value", "∂f/∂var (engine)", "finite difference", "difference"}};
    for (const Row& r : rows)
        cells.push_back({r.name, fmt::format("{}", r.value), fmt::format("{}", r.grad),
                         fmt::format("{:.10g}", r.numeric), fmt::format("{:.1e}", r.difference)});
    fmt::print(out, "\n");
    print_columns(out, cells);
}

// What happened to one requested graph file, for the notes and the JSON.
struct GraphFile {
    std::string format;  // "dot", "svg", "png"
    std::string file;
    bool written = true;
    std::string reason;    // when not written: "graphviz not found", "graph too large", "graphviz timed out"
    std::string dot_file;  // when not written: where the DOT text went instead
};

// The "graphs" entry of a JSON result: each picture asked for, and why one
// was not drawn.
void add_graphs(Json& j, const std::vector<GraphFile>& graphs) {
    if (graphs.empty()) return;
    Json files = Json::array();
    for (const GraphFile& g : graphs) {
        Json entry = {{"format", g.format}, {"file", g.file}, {"written", g.written}};
        if (!g.written) {
            entry["reason"] = g.reason;
            entry["dot_file"] = g.dot_file;
        }
        files.push_back(entry);
    }
    j["graphs"] = files;
}

Json result_json(const GradArgs& args, double f, const std::vector<Row>& rows, const std::vector<GraphFile>& graphs) {
    Json variables = Json::array();
    for (const Row& r : rows)
        variables.push_back({{"name", r.name},
                             {"value", json_number(r.value)},
                             {"grad", json_number(r.grad)},
                             {"finite_difference", json_number(r.numeric)},
                             {"difference", json_number(r.difference)}});
    Json j = {{"expression", args.expression}, {"f", json_number(f)}, {"variables", variables}};
    add_graphs(j, graphs);
    return j;
}

// ": " and the engine's report of the op that made a gradient NaN or Inf,
// found by rerunning the sweep in anomaly mode; "" if the sweep finds none.
std::string anomaly_report(const ag::Value& f, const std::vector<ag::Value>& leaves) {
    try {
        ag::DetectAnomaly anomaly;
        ag::grad(f, leaves);
    } catch (const ag::AnomalyError& err) {
        return fmt::format(": {}", err.what());
    }
    return "";
}

// Draws the graph into each requested file; returns what happened to each.
// Throws std::runtime_error when a file cannot be written.
std::vector<GraphFile> write_graph_files(const GradArgs& args, const std::string& dot, std::size_t graph_nodes) {
    std::vector<GraphFile> graphs;
    if (!args.dot_file.empty()) {
        if (args.dot_file == "-") {
            fmt::print("{}", dot);
        } else {
            tapegrad_cli::write_text_file(args.dot_file, dot);
            fmt::print(stderr, "wrote {}\n", args.dot_file);
        }
        graphs.push_back({"dot", args.dot_file, true, "", ""});
    }
    for (const auto& [file, format] : {std::pair{args.svg_file, "svg"}, std::pair{args.png_file, "png"}}) {
        if (file.empty()) continue;
        GraphFile g{format, file, true, "", ""};
        std::string why;
        if (graph_nodes > max_drawn_nodes) {
            g.written = false;
            g.reason = "graph too large";
            g.dot_file = tapegrad_cli::write_dot_beside(file, dot);
            why = fmt::format("the graph has {} nodes, and Graphviz can take many minutes past {}", graph_nodes,
                              max_drawn_nodes);
        } else {
            const auto result = tapegrad_cli::render_graph(dot, file, format, args.render_timeout);
            g.written = result.status == tapegrad_cli::RenderStatus::Drawn;
            g.dot_file = result.dot_path;
            if (result.status == tapegrad_cli::RenderStatus::NoGraphviz) {
                g.reason = "graphviz not found";
                why = "Graphviz's 'dot' is not on PATH";
            } else if (result.status == tapegrad_cli::RenderStatus::TimedOut) {
                g.reason = "graphviz timed out";
                why = fmt::format("Graphviz's 'dot' did not finish within {} s (--render-timeout) and was stopped",
                                  args.render_timeout);
            }
        }
        if (g.written)
            fmt::print(stderr, "wrote {}\n", file);
        else
            fmt::print(stderr,
                       "note: {}, so {} was not drawn; wrote the graph to {} instead.\n"
                       "      Render it with: dot -T{} {} -o {}{}\n",
                       why, file, g.dot_file, format, g.dot_file, file,
                       g.reason == "graphviz not found" ? "   (Debian/Ubuntu: apt install graphviz)"
                                                        : "   (it may take long; --dot FILE writes only the DOT text)");
        graphs.push_back(std::move(g));
    }
    return graphs;
}

// The expression and a value for each of its variables, read from the
// command line; or the exit code of the error already reported.
struct Prepared {
    std::optional<expr::Expression> expression;
    std::vector<Assignment> given;  // in command-line order
    std::vector<double> value_of;   // per variable of the expression
};

std::variant<Prepared, int> prepare(const GradArgs& args) {
    Prepared p;
    try {
        p.expression.emplace(args.expression);
    } catch (const expr::ExpressionError& e) {
        const bool unknown = e.kind() == expr::ExpressionError::Kind::UnknownName;
        return report(args, {exit_usage, unknown ? "unknown function" : "syntax", e.what(), e.column(), e.length()});
    }
    const expr::Expression& e = *p.expression;

    // Names are looked up in hash maps throughout: thousands of assignments
    // cost linear time, not a scan per name.
    std::vector<Assignment>& given = p.given;
    std::unordered_map<std::string, std::size_t> given_index;
    for (const std::string& s : args.assignments) {
        auto a = parse_assignment(s);
        if (auto* problem = std::get_if<std::string>(&a)) return report(args, {exit_usage, "usage", *problem, {}});
        const Assignment& assignment = std::get<Assignment>(a);
        const auto [it, added] = given_index.emplace(assignment.name, given.size());
        if (!added) {
            const Assignment& earlier = given[it->second];
            return report(
                args, {exit_usage,
                       "usage",
                       fmt::format("{} is given twice ({}={} and {})", assignment.name, earlier.name, earlier.value, s),
                       {}});
        }
        given.push_back(assignment);
    }

    // Each variable of the expression needs a value; name all that lack one.
    std::vector<double>& value_of = p.value_of;
    value_of.resize(e.variables().size());
    std::vector<std::string> missing;
    std::optional<std::size_t> first_missing;
    std::size_t first_missing_length = 1;
    for (std::size_t k = 0; k < e.variables().size(); ++k) {
        const auto& v = e.variables()[k];
        if (const auto it = given_index.find(v.name); it != given_index.end()) {
            value_of[k] = given[it->second].value;
        } else {
            missing.push_back(v.name);
            if (!first_missing) {
                first_missing = v.column;
                first_missing_length = v.name.size();
            }
        }
    }
    if (!missing.empty()) {
        std::string names, example;
        for (const auto& m : missing) {
            names += fmt::format("{}{}", names.empty() ? "" : ", ", m);
            example += fmt::format("{}{}=VALUE", example.empty() ? "" : " ", m);
        }
        return report(args,
                      {exit_usage, "missing value",
                       fmt::format("no value for variable{} {} (give {} on the command line: {})",
                                   missing.size() > 1 ? "s" : "", names, missing.size() > 1 ? "them" : "it", example),
                       first_missing, first_missing_length});
    }
    return p;
}

// One note for all the given variables absent from the expression (there
// may be thousands), naming the first few.
void note_unused(const std::vector<std::string_view>& unused) {
    if (unused.size() == 1) {
        fmt::print(stderr, "note: {} does not occur in the expression; ∂f/∂{} = 0\n", unused[0], unused[0]);
    } else if (!unused.empty()) {
        constexpr std::size_t named = 10;
        const std::size_t shown = std::min(unused.size(), named);
        fmt::print(stderr, "note: {}{} do not occur in the expression; their partials are 0\n",
                   fmt::join(unused.begin(), unused.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
                   unused.size() > shown ? fmt::format(" and {} more", unused.size() - shown) : std::string());
    }
}

int run_grad(GradArgs& args) {
    if (auto problem = check_options(args)) return report(args, {exit_usage, "usage", *problem, {}});
    auto prepared = prepare(args);
    if (const int* code = std::get_if<int>(&prepared)) return *code;
    const Prepared& p = std::get<Prepared>(prepared);
    const expr::Expression& e = *p.expression;
    const std::vector<Assignment>& given = p.given;
    const std::vector<double>& value_of = p.value_of;

    // Evaluate on the tape (leaves named, for the picture) and differentiate.
    const std::uint32_t tape_before = ag::tape().size();
    std::vector<ag::Value> leaves;
    for (std::size_t k = 0; k < value_of.size(); ++k) leaves.emplace_back(value_of[k], e.variables()[k].name);
    ag::Value f;
    try {
        f = e.evaluate(leaves);
    } catch (const expr::ExpressionError& err) {
        return report(args, {exit_evaluation, "domain", err.what(), err.column(), err.length()});
    }
    const std::size_t graph_nodes = ag::tape().size() - tape_before;
    f.backward();

    // Finite differences over the expression's variables only: a variable
    // that does not occur has partial 0 and its difference is exactly 0, so
    // unused assignments cost nothing.
    ag::GradCheckOptions options;
    options.step = args.step;
    const ag::GradCheckReport fd =
        ag::check_gradients([&](const std::vector<ag::Value>& xs) { return e.evaluate(xs, false); }, value_of, options);

    std::vector<Row> rows;
    std::vector<bool> occurs;  // per row
    for (const Assignment& a : given) {
        Row r;
        r.name = a.name;
        r.value = a.value;
        const std::optional<std::size_t> k = e.variable_index(a.name);
        if (k) {
            r.grad = leaves[*k].grad();
            r.numeric = fd.inputs[*k].numeric;
            r.agrees = fd.inputs[*k].ok;
        }
        r.difference = r.grad - r.numeric;
        rows.push_back(r);
        occurs.push_back(k.has_value());
    }

    // Graph files first: if one cannot be written, that is the result.
    std::vector<GraphFile> graphs;
    try {
        const bool any_graph_file = !args.dot_file.empty() || !args.svg_file.empty() || !args.png_file.empty();
        if (any_graph_file) graphs = write_graph_files(args, ag::to_dot(f), graph_nodes);
    } catch (const std::exception& err) {
        return report(args, {exit_evaluation, "output", err.what(), {}});
    }

    if (args.json)
        print_json(result_json(args, f.data(), rows, graphs));
    else
        print_table(args.dot_file == "-" ? stderr : stdout, args, f.data(), rows);

    std::vector<std::string_view> unused;
    for (std::size_t k = 0; k < rows.size(); ++k)
        if (!occurs[k]) unused.push_back(rows[k].name);
    note_unused(unused);

    // The sweep is the same for every variable, so one rerun names the op
    // behind all the non-finite gradients.
    std::optional<std::string> anomaly;
    for (const Row& r : rows) {
        if (!std::isfinite(r.grad)) {
            if (!anomaly) anomaly = anomaly_report(f, leaves);
            fmt::print(stderr, "note: ∂f/∂{} is {}{}\n", r.name, r.grad, *anomaly);
        } else if (!r.agrees) {
            fmt::print(stderr,
                       "note: for {}, the engine and the finite difference disagree: f may not be differentiable at "
                       "this point (relu, abs, min, max at their kinks) or may vary too fast for --step {}\n",
                       r.name, args.step);
        }
    }
    const bool all_drawn = std::all_of(graphs.begin(), graphs.end(), [](const GraphFile& g) { return g.written; });
    return all_drawn ? exit_ok : exit_picture_not_drawn;
}

// Evaluates the expression once with the domain check, so that log(-1) is
// reported at its place in the text; the exit code of that error, if any.
std::optional<int> check_domain(const GradArgs& args, const Prepared& p) {
    ag::Scope scope;
    const std::vector<ag::Value> leaves(p.value_of.begin(), p.value_of.end());
    try {
        p.expression->evaluate(leaves);
    } catch (const expr::ExpressionError& err) {
        return report(args, {exit_evaluation, "domain", err.what(), err.column(), err.length()});
    }
    return std::nullopt;
}

// `tapegrad hessian`: f, the gradient and the Hessian (the recorded
// gradient swept again, ag::create_graph), each beside central differences
// (of f for the gradient, of the gradient for the Hessian). Variables in
// command-line order, as grad; one absent from the expression has zero rows.
int run_hessian(GradArgs& args) {
    if (auto problem = check_options(args)) return report(args, {exit_usage, "usage", *problem, {}});
    auto prepared = prepare(args);
    if (const int* code = std::get_if<int>(&prepared)) return *code;
    const Prepared& p = std::get<Prepared>(prepared);
    const expr::Expression& e = *p.expression;
    if (const auto code = check_domain(args, p)) return *code;

    ag::GradCheckOptions options;
    options.step = args.step;
    options.second_order = true;
    const ag::GradCheckReport fd = ag::check_gradients(
        [&](const std::vector<ag::Value>& xs) { return e.evaluate(xs, false); }, p.value_of, options);

    const std::size_t n = p.given.size(), m = p.value_of.size();
    std::vector<std::optional<std::size_t>> k(n);
    for (std::size_t i = 0; i < n; ++i) k[i] = e.variable_index(p.given[i].name);
    std::vector<double> grad(n, 0.0), grad_fd(n, 0.0);
    ag::Matrix hessian(n, std::vector<double>(n, 0.0)), hessian_fd = hessian;
    for (std::size_t i = 0; i < n; ++i) {
        if (!k[i]) continue;
        grad[i] = fd.inputs[*k[i]].analytic;
        grad_fd[i] = fd.inputs[*k[i]].numeric;
        for (std::size_t j = 0; j < n; ++j) {
            if (!k[j]) continue;
            const ag::GradCheckEntry& h = fd.hessian[*k[i] * m + *k[j]].check;
            hessian[i][j] = h.analytic;
            hessian_fd[i][j] = h.numeric;
        }
    }

    if (args.json) {
        Json names = Json::array(), g = Json::array(), gfd = Json::array(), h = Json::array(), hfd = Json::array();
        for (std::size_t i = 0; i < n; ++i) {
            names.push_back(p.given[i].name);
            g.push_back(json_number(grad[i]));
            gfd.push_back(json_number(grad_fd[i]));
            Json row = Json::array(), row_fd = Json::array();
            for (std::size_t j = 0; j < n; ++j) {
                row.push_back(json_number(hessian[i][j]));
                row_fd.push_back(json_number(hessian_fd[i][j]));
            }
            h.push_back(row);
            hfd.push_back(row_fd);
        }
        Json point = Json::array();
        for (const Assignment& a : p.given) point.push_back(json_number(a.value));
        print_json(Json{{"expression", args.expression},
                        {"variables", names},
                        {"point", point},
                        {"value", json_number(fd.f)},
                        {"gradient", g},
                        {"hessian", h},
                        {"gradient_finite_difference", gfd},
                        {"hessian_finite_difference", hfd}});
    } else {
        fmt::print("f = {} = {}\n", args.expression, fd.f);
        if (n > 0) {
            std::vector<std::vector<std::string>> cells = {
                {"variable", "value", "∂f/∂var (engine)", "finite difference", "difference"}};
            for (std::size_t i = 0; i < n; ++i)
                cells.push_back({p.given[i].name, fmt::format("{}", p.given[i].value), fmt::format("{}", grad[i]),
                                 fmt::format("{:.10g}", grad_fd[i]), fmt::format("{:.1e}", grad[i] - grad_fd[i])});
            fmt::print("\n");
            print_columns(stdout, cells);
            auto matrix = [&](const char* title, const ag::Matrix& a, const char* number_format) {
                std::vector<std::vector<std::string>> rows = {{""}};
                for (std::size_t j = 0; j < n; ++j) rows[0].push_back(p.given[j].name);
                for (std::size_t i = 0; i < n; ++i) {
                    rows.push_back({p.given[i].name});
                    for (std::size_t j = 0; j < n; ++j)
                        rows.back().push_back(fmt::format(fmt::runtime(number_format), a[i][j]));
                }
                fmt::print("\n{}\n", title);
                print_columns(stdout, rows);
            };
            matrix("Hessian ∂²f/∂row∂col (engine):", hessian, "{}");
            matrix("Hessian by finite differences of the gradient:", hessian_fd, "{:.10g}");
            double worst = 0;
            for (std::size_t i = 0; i < n; ++i)
                for (std::size_t j = 0; j < n; ++j)
                    worst = std::max(worst, std::fabs(hessian[i][j] - hessian_fd[i][j]));
            fmt::print("\nlargest difference in the Hessian: {:.1e}\n", worst);
        }
    }

    std::vector<std::string_view> unused;
    for (std::size_t i = 0; i < n; ++i)
        if (!k[i]) unused.push_back(p.given[i].name);
    note_unused(unused);
    bool disagree = false;
    for (const auto& entry : fd.inputs) disagree = disagree || !entry.ok;
    for (const auto& entry : fd.hessian) disagree = disagree || !entry.check.ok;
    bool finite = true;
    for (std::size_t i = 0; i < n; ++i) {
        finite = finite && std::isfinite(grad[i]);
        for (std::size_t j = 0; j < n; ++j) finite = finite && std::isfinite(hessian[i][j]);
    }
    if (!finite)
        fmt::print(stderr,
                   "note: some derivatives are not finite (null in --json): f is not twice differentiable "
                   "here (sqrt or log at 0, ...)\n");
    else if (disagree)
        fmt::print(stderr,
                   "note: the engine and the finite differences disagree: f may not be twice differentiable at this "
                   "point (relu, abs, min, max at their kinks) or may vary too fast for --step {}\n",
                   args.step);
    return exit_ok;
}

// `tapegrad explain`: the chain rule, node by node (ag::explain), as text,
// as JSON, or drawn.
Json explanation_json(const GradArgs& args, const ag::Explanation& x, const std::vector<GraphFile>& graphs) {
    auto kind = [](ag::ExplainNode::Kind k) {
        return k == ag::ExplainNode::Kind::Leaf ? "input" : k == ag::ExplainNode::Kind::Op ? "op" : "tensor op";
    };
    Json forward = Json::array(), reverse = Json::array(), gradient = Json::array();
    for (const ag::ExplainNode& row : x.nodes) {
        Json node = {{"node", row.node}, {"label", row.label}, {"kind", kind(row.kind)}, {"op", row.op}};
        if (row.kind == ag::ExplainNode::Kind::Op) node["computes"] = row.computes;
        if (row.constant) {
            node["constant"] = json_number(*row.constant);
            node["constant_letter"] = std::string(1, row.constant_letter);
        }
        node["value"] = json_number(row.value);
        forward.push_back(node);
    }
    for (auto it = x.nodes.rbegin(); it != x.nodes.rend(); ++it) {
        const ag::ExplainNode& row = *it;
        Json received = Json::array(), inputs = Json::array();
        for (const ag::ExplainContribution& c : row.received)
            received.push_back({{"from", c.from}, {"amount", json_number(c.amount)}});
        for (const ag::ExplainInput& in : row.inputs)
            inputs.push_back({{"node", in.node},
                              {"label", in.label},
                              {"letter", std::string(1, in.letter)},
                              {"value", json_number(in.value)},
                              {"formula", in.formula},
                              {"local_derivative", json_number(in.local)},
                              {"sends", json_number(in.sent)}});
        reverse.push_back({{"node", row.node},
                           {"label", row.label},
                           {"adjoint", json_number(row.adjoint)},
                           {"received", received},
                           {"skipped", row.skipped},
                           {"inputs", inputs}});
    }
    for (const ag::ExplainGradient& g : x.gradient)
        gradient.push_back({{"name", g.label}, {"value", json_number(g.value)}, {"gradient", json_number(g.gradient)}});
    Json j = {{"expression", args.expression},
              {"f", json_number(x.root_value)},
              {"forward", forward},
              {"reverse", reverse},
              {"gradient", gradient}};
    add_graphs(j, graphs);
    return j;
}

int run_explain(GradArgs& args) {
    if (auto problem = check_options(args)) return report(args, {exit_usage, "usage", *problem, {}});
    auto prepared = prepare(args);
    if (const int* code = std::get_if<int>(&prepared)) return *code;
    const Prepared& p = std::get<Prepared>(prepared);
    const expr::Expression& e = *p.expression;

    std::vector<ag::Value> leaves;
    for (std::size_t k = 0; k < p.value_of.size(); ++k) leaves.emplace_back(p.value_of[k], e.variables()[k].name);
    ag::Value f;
    try {
        f = e.evaluate(leaves);
    } catch (const expr::ExpressionError& err) {
        return report(args, {exit_evaluation, "domain", err.what(), err.column(), err.length()});
    }
    // The gradient for each given variable, in command-line order; one
    // absent from the expression is a leaf f does not depend on.
    std::vector<ag::Value> wrt;
    std::vector<std::string_view> unused;
    for (const Assignment& a : p.given) {
        if (const auto k = e.variable_index(a.name)) {
            wrt.push_back(leaves[*k]);
        } else {
            wrt.emplace_back(a.value, a.name);
            unused.push_back(a.name);
        }
    }
    const ag::Explanation x = ag::explain(f, wrt);

    std::vector<GraphFile> graphs;
    try {
        const bool any_graph_file = !args.dot_file.empty() || !args.svg_file.empty() || !args.png_file.empty();
        if (any_graph_file) graphs = write_graph_files(args, x.dot(), x.nodes.size());
    } catch (const std::exception& err) {
        return report(args, {exit_evaluation, "output", err.what(), {}});
    }
    if (args.json)
        print_json(explanation_json(args, x, graphs));
    else
        fmt::print(args.dot_file == "-" ? stderr : stdout, "f = {}\n\n{}", args.expression, x.text());
    note_unused(unused);
    for (const ag::ExplainGradient& g : x.gradient)
        if (!std::isfinite(g.gradient))
            fmt::print(stderr, "note: ∂f/∂{} is {}{}\n", g.label, g.gradient, anomaly_report(f, wrt));
    const bool all_drawn = std::all_of(graphs.begin(), graphs.end(), [](const GraphFile& g) { return g.written; });
    return all_drawn ? exit_ok : exit_picture_not_drawn;
}

constexpr const char* examples = R"EX(Examples:
  tapegrad grad "(x + y) * z" x=-2 y=5 z=-4
  tapegrad grad "tanh(w*x + b)" w=0.5 x=2 b=-1 --json
  tapegrad grad "sigmoid(a)^2 + log(b)" a=1 b=3 --svg graph.svg
  tapegrad grad "sigmoid(a)^2 + log(b)" a=1 b=3 --dot - | dot -Tpng > graph.png
  tapegrad grad -- "-x^2" x=3          (use -- before an expression that starts with '-')
  tapegrad hessian "x^2*y + sin(x*y)" x=1 y=2 --json
  tapegrad explain "(x + y) * z" x=-2 y=5 z=-4 --svg chain.svg

Expressions: numbers (1, 2.5, 1e-3), variables, + - * / ^ (right-associative,
-x^2 = -(x^2)), parentheses, exp log sqrt tanh sigmoid relu sin cos abs
tan atan sinh cosh log1p expm1 erf softplus gelu (one argument), pow min max
(two), constants pi and e.

Exit codes: 0 ok, 1 evaluation error (NaN/Inf, unwritable file),
2 usage or syntax error, 3 result printed but an --svg/--png picture not
drawn (no Graphviz, graph too large, or --render-timeout passed; the graph
was written as .dot beside it instead).)EX";

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tapegrad: reverse-mode automatic differentiation of expressions from the shell", "tapegrad"};
    app.set_version_flag("--version", TAPEGRAD_VERSION);
    app.require_subcommand(1);
    app.footer(examples);

    GradArgs args;
    auto add_common = [&](CLI::App* command) {
        command->add_option("expression", args.expression, "The expression, e.g. \"(x + y) * z\" (quote it)")
            ->required();
        command->add_option("assignments", args.assignments, "A value for each variable: NAME=VALUE ...");
        command->add_flag("--json", args.json, "Print the result (or the error) as one JSON object");
        command->footer(examples);
    };
    auto add_graph_options = [&](CLI::App* command) {
        command->add_option("--dot", args.dot_file, "Write the graph as Graphviz DOT to FILE ('-': standard output)")
            ->type_name("FILE");
        command->add_option("--svg", args.svg_file, "Draw the graph as SVG to FILE (needs Graphviz's dot)")
            ->type_name("FILE");
        command->add_option("--png", args.png_file, "Draw the graph as PNG to FILE (needs Graphviz's dot)")
            ->type_name("FILE");
        command
            ->add_option(
                "--render-timeout", args.render_timeout_text,
                fmt::format("Seconds Graphviz may take to draw --svg/--png (default {})", default_render_timeout))
            ->type_name("SECONDS");
    };
    // Read as text and checked by check_options(), which says what is wrong
    // in words (CLI11's range check prints DBL_MAX in full).
    auto add_step = [&](CLI::App* command) {
        command->add_option("--step", args.step_text, "Relative finite-difference step (default 1e-6)")->type_name("H");
    };
    CLI::App* grad = app.add_subcommand("grad", "Evaluate an expression and print ∂f/∂var for each variable");
    add_common(grad);
    add_graph_options(grad);
    add_step(grad);
    CLI::App* hessian =
        app.add_subcommand("hessian", "Print f, its gradient and its Hessian, each beside finite-difference estimates");
    add_common(hessian);
    add_step(hessian);
    CLI::App* explain = app.add_subcommand(
        "explain", "Show the chain rule at work: the forward pass node by node, then the reverse sweep step by step");
    add_common(explain);
    add_graph_options(explain);

    // A usage error found before the options are read still honours --json:
    // a script reading stdout gets an error object, not an empty stream.
    bool json = false;
    for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i)
        json = json || std::string_view(argv[i]) == "--json";
    auto usage_json = [&](std::string_view message) {
        if (json) print_json_error("usage", message, std::nullopt);
    };

    // CLI11 would only say "A subcommand is required" for a misspelt one.
    const std::string_view command = argc > 1 ? argv[1] : "";
    const std::string_view hinted = command == "hessian" || command == "explain" ? command : "grad";
    if (argc > 1 && argv[1][0] != '-' && command != "grad" && command != "hessian" && command != "explain") {
        const std::string message = fmt::format("unknown command '{}' (commands: grad, hessian, explain)", argv[1]);
        fmt::print(stderr, "tapegrad: error: {}\nRun with --help for more information.\n", message);
        usage_json(message);
        return exit_usage;
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int code = app.exit(e);
        if (code == 0) return exit_ok;  // --help, --version
        usage_json(e.what());
        for (int i = 1; i < argc; ++i)
            if (argv[i][0] == '-' && argv[i][1] != '-' && argv[i][1] != '\0' &&
                !std::isdigit(static_cast<unsigned char>(argv[i][1]))) {
                fmt::print(stderr,
                           "hint: an expression that starts with '-' goes after --: tapegrad {} -- \"{}\" ...\n",
                           hinted, argv[i]);
                break;
            }
        return exit_usage;
    }
    if (hessian->parsed()) return run_hessian(args);
    if (explain->parsed()) return run_explain(args);
    return run_grad(args);
}
