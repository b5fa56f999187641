// tapegrad: differentiate an expression from the shell.
//
//     tapegrad grad "(x + y) * z" x=-2 y=5 z=-4
//
// prints f, then for each variable its value, the engine's ∂f/∂var, the
// central finite difference and their difference. Exit codes: 0 ok,
// 1 evaluation error (NaN/Inf, a graph file that cannot be written),
// 2 usage or syntax error. Results go to stdout, errors and notes to stderr;
// with --json, stdout is always one JSON object (the result or the error).
//
// Choices where the issue is silent: a variable given a value but absent
// from the expression is listed with gradient 0 (as ag::grad does) and a
// note; the table lists variables in command-line order; a gradient that is
// not finite (sqrt at 0) is printed as is, with the engine's anomaly report
// as a note, and is null in JSON.
#include "expression.hpp"
#include "graph_files.hpp"

#include <autograd/dot.hpp>
#include <autograd/gradcheck.hpp>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace {

namespace expr = ag::expr;

enum ExitCode { exit_ok = 0, exit_evaluation = 1, exit_usage = 2 };

struct GradArgs {
    std::string expression;
    std::vector<std::string> assignments;
    std::string dot_file, svg_file, png_file;
    bool json = false;
    double step = ag::GradCheckOptions{}.step;
};

std::string json_string(std::string_view s) {
    std::string out = "\"";
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default:
                if (c < 0x20)
                    out += fmt::format("\\u{:04x}", c);
                else
                    out += ch;
        }
    }
    return out + "\"";
}
// JSON has no NaN or Infinity.
std::string json_number(double v) { return std::isfinite(v) ? fmt::format("{}", v) : "null"; }

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
    std::string out = fmt::format("{{\"error\": {{\"kind\": {}, \"message\": {}", json_string(kind), json_string(message));
    if (column) out += fmt::format(", \"column\": {}", *column + 1);
    fmt::print("{}}}}}\n", out);
}

int report(const GradArgs& args, const Failure& f) {
    fmt::print(stderr, "tapegrad: error: {}\n", f.message);
    if (f.column) fmt::print(stderr, "  {}\n  {}\n", args.expression, expr::pointer_line(args.expression, *f.column, f.length));
    if (args.json) print_json_error(f.kind, f.message, f.column);
    return f.code;
}

struct Assignment {
    std::string name;
    double value = 0;
};

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
    char* end = nullptr;
    a.value = std::strtod(text.c_str(), &end);
    if (text.empty() || end != text.c_str() + text.size())
        return fmt::format("in '{}': the value of {}, '{}', is not a number", s, a.name, text);
    if (!std::isfinite(a.value)) return fmt::format("in '{}': the value of {} must be finite", s, a.name);
    return a;
}

struct Row {
    std::string name;
    double value = 0, grad = 0, numeric = 0, difference = 0;
    bool agrees = true;
};

void print_table(const GradArgs& args, double f, const std::vector<Row>& rows) {
    fmt::print("f = {} = {}\n", args.expression, f);
    if (rows.empty()) return;
    std::vector<std::vector<std::string>> cells = {{"variable", "value", "∂f/∂var (engine)", "finite difference", "difference"}};
    for (const Row& r : rows)
        cells.push_back({r.name, fmt::format("{}", r.value), fmt::format("{}", r.grad), fmt::format("{:.10g}", r.numeric),
                         fmt::format("{:.1e}", r.difference)});
    std::vector<std::size_t> width(cells[0].size(), 0);
    for (const auto& line : cells)
        for (std::size_t c = 0; c < line.size(); ++c) width[c] = std::max(width[c], expr::display_width(line[c]));
    fmt::print("\n");
    for (const auto& line : cells) {
        std::string out;
        for (std::size_t c = 0; c < line.size(); ++c) {
            out += line[c];
            if (c + 1 < line.size()) out += std::string(width[c] - expr::display_width(line[c]) + 2, ' ');
        }
        fmt::print("{}\n", out);
    }
}

void print_json(const GradArgs& args, double f, const std::vector<Row>& rows) {
    std::string out = fmt::format("{{\"expression\": {}, \"f\": {}, \"variables\": [", json_string(args.expression), json_number(f));
    for (std::size_t k = 0; k < rows.size(); ++k) {
        const Row& r = rows[k];
        out += fmt::format(
            "{}{{\"name\": {}, \"value\": {}, \"grad\": {}, \"finite_difference\": {}, \"difference\": {}}}",
            k ? ", " : "", json_string(r.name), json_number(r.value), json_number(r.grad), json_number(r.numeric),
            json_number(r.difference));
    }
    fmt::print("{}]}}\n", out);
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

int run_grad(const GradArgs& args) {
    std::optional<expr::Expression> parsed;
    try {
        parsed.emplace(args.expression);
    } catch (const expr::ExpressionError& e) {
        const bool unknown = e.kind() == expr::ExpressionError::Kind::UnknownName;
        return report(args, {exit_usage, unknown ? "unknown function" : "syntax", e.what(), e.column(), e.length()});
    }
    const expr::Expression& e = *parsed;

    std::vector<Assignment> given;
    for (const std::string& s : args.assignments) {
        auto a = parse_assignment(s);
        if (auto* problem = std::get_if<std::string>(&a)) return report(args, {exit_usage, "usage", *problem, {}});
        const Assignment& assignment = std::get<Assignment>(a);
        for (const Assignment& earlier : given)
            if (earlier.name == assignment.name)
                return report(args, {exit_usage, "usage",
                                     fmt::format("{} is given twice ({}={} and {})", assignment.name, earlier.name,
                                                 earlier.value, s),
                                     {}});
        given.push_back(assignment);
    }

    // Each variable of the expression needs a value; name all that lack one.
    std::vector<double> value_of(e.variables().size());
    std::vector<std::string> missing;
    std::optional<std::size_t> first_missing;
    std::size_t first_missing_length = 1;
    for (std::size_t k = 0; k < e.variables().size(); ++k) {
        const auto& v = e.variables()[k];
        auto it = std::find_if(given.begin(), given.end(), [&](const Assignment& a) { return a.name == v.name; });
        if (it != given.end()) {
            value_of[k] = it->value;
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
        return report(args, {exit_usage, "missing value",
                             fmt::format("no value for variable{} {} (give {} on the command line: {})",
                                         missing.size() > 1 ? "s" : "", names, missing.size() > 1 ? "them" : "it", example),
                             first_missing, first_missing_length});
    }

    // Evaluate on the tape (leaves named, for the picture) and differentiate.
    std::vector<ag::Value> leaves;
    for (std::size_t k = 0; k < value_of.size(); ++k) leaves.emplace_back(value_of[k], e.variables()[k].name);
    ag::Value f;
    try {
        f = e.evaluate(leaves);
    } catch (const expr::ExpressionError& err) {
        return report(args, {exit_evaluation, "domain", err.what(), err.column(), err.length()});
    }
    f.backward();

    // The finite differences, over the variables in table (command-line) order.
    std::vector<double> point;
    std::vector<std::optional<std::size_t>> expression_index;
    for (const Assignment& a : given) {
        point.push_back(a.value);
        expression_index.push_back(e.variable_index(a.name));
    }
    ag::GradCheckOptions options;
    options.step = args.step;
    const ag::GradCheckReport fd = ag::check_gradients(
        [&](const std::vector<ag::Value>& xs) {
            std::vector<ag::Value> values(e.variables().size());
            for (std::size_t k = 0; k < xs.size(); ++k)
                if (expression_index[k]) values[*expression_index[k]] = xs[k];
            return e.evaluate(values, false);
        },
        point, options);

    std::vector<Row> rows;
    for (std::size_t k = 0; k < given.size(); ++k) {
        Row r;
        r.name = given[k].name;
        r.value = given[k].value;
        r.grad = expression_index[k] ? leaves[*expression_index[k]].grad() : 0.0;
        r.numeric = fd.inputs[k].numeric;
        r.difference = r.grad - r.numeric;
        r.agrees = fd.inputs[k].ok;
        rows.push_back(r);
    }

    // Graph files first: if one cannot be written, that is the result.
    try {
        const bool any_graph_file = !args.dot_file.empty() || !args.svg_file.empty() || !args.png_file.empty();
        const std::string dot = any_graph_file ? ag::to_dot(f) : std::string();
        if (!args.dot_file.empty()) {
            tapegrad_cli::write_text_file(args.dot_file, dot);
            fmt::print(stderr, "wrote {}\n", args.dot_file);
        }
        for (const auto& [file, format] : {std::pair{args.svg_file, "svg"}, std::pair{args.png_file, "png"}}) {
            if (file.empty()) continue;
            const auto result = tapegrad_cli::render_graph(dot, file, format);
            if (result.rendered)
                fmt::print(stderr, "wrote {}\n", file);
            else
                fmt::print(stderr,
                           "note: Graphviz's 'dot' is not on PATH, so {} was not drawn; wrote the graph to {} instead.\n"
                           "      Render it with: dot -T{} {} -o {}   (Debian/Ubuntu: apt install graphviz)\n",
                           file, result.dot_path, format, result.dot_path, file);
        }
    } catch (const std::exception& err) {
        return report(args, {exit_evaluation, "output", err.what(), {}});
    }

    if (args.json)
        print_json(args, f.data(), rows);
    else
        print_table(args, f.data(), rows);

    // The sweep is the same for every variable, so one rerun names the op
    // behind all the non-finite gradients.
    std::optional<std::string> anomaly;
    for (const Row& r : rows) {
        if (!e.variable_index(r.name)) fmt::print(stderr, "note: {} does not occur in the expression; ∂f/∂{} = 0\n", r.name, r.name);
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
    return exit_ok;
}

constexpr const char* examples = R"EX(Examples:
  tapegrad grad "(x + y) * z" x=-2 y=5 z=-4
  tapegrad grad "tanh(w*x + b)" w=0.5 x=2 b=-1 --json
  tapegrad grad "sigmoid(a)^2 + log(b)" a=1 b=3 --svg graph.svg
  tapegrad grad -- "-x^2" x=3          (use -- before an expression that starts with '-')

Expressions: numbers (1, 2.5, 1e-3), variables, + - * / ^ (right-associative,
-x^2 = -(x^2)), parentheses, exp log sqrt tanh sigmoid relu sin cos abs
(one argument), pow min max (two), constants pi and e.

Exit codes: 0 ok, 1 evaluation error (NaN/Inf, unwritable file),
2 usage or syntax error.)EX";

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"tapegrad: reverse-mode automatic differentiation of expressions from the shell", "tapegrad"};
    app.set_version_flag("--version", TAPEGRAD_VERSION);
    app.require_subcommand(1);
    app.footer(examples);

    GradArgs args;
    CLI::App* grad = app.add_subcommand("grad", "Evaluate an expression and print ∂f/∂var for each variable");
    grad->add_option("expression", args.expression, "The expression, e.g. \"(x + y) * z\" (quote it)")->required();
    grad->add_option("assignments", args.assignments, "A value for each variable: NAME=VALUE ...");
    grad->add_option("--dot", args.dot_file, "Write the graph as Graphviz DOT to FILE")->type_name("FILE");
    grad->add_option("--svg", args.svg_file, "Draw the graph as SVG to FILE (needs Graphviz's dot)")->type_name("FILE");
    grad->add_option("--png", args.png_file, "Draw the graph as PNG to FILE (needs Graphviz's dot)")->type_name("FILE");
    grad->add_flag("--json", args.json, "Print the result (or the error) as one JSON object");
    grad->add_option("--step", args.step, "Relative finite-difference step (default 1e-6)")
        ->check(CLI::PositiveNumber)
        ->type_name("H");
    grad->footer(examples);

    // A usage error found before the options are read still honours --json:
    // a script reading stdout gets an error object, not an empty stream.
    bool json = false;
    for (int i = 1; i < argc && std::string_view(argv[i]) != "--"; ++i) json = json || std::string_view(argv[i]) == "--json";
    auto usage_json = [&](std::string_view message) {
        if (json) print_json_error("usage", message, std::nullopt);
    };

    // CLI11 would only say "A subcommand is required" for a misspelt one.
    if (argc > 1 && argv[1][0] != '-' && std::string_view(argv[1]) != "grad") {
        const std::string message = fmt::format("unknown command '{}' (commands: grad)", argv[1]);
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
            if (argv[i][0] == '-' && argv[i][1] != '-' && argv[i][1] != '\0' && !std::isdigit(static_cast<unsigned char>(argv[i][1]))) {
                fmt::print(stderr, "hint: an expression that starts with '-' goes after --: tapegrad grad -- \"{}\" ...\n",
                           argv[i]);
                break;
            }
        return exit_usage;
    }
    return run_grad(args);
}
