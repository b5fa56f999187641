// libFuzzer target for the expression parser of the tapegrad tool.
//
// Any input must either parse or throw ag::expr::ExpressionError (never
// crash, hang or throw anything else), and a parsed expression must:
//   - print (to_string) to text that parses back to the same printed form,
//   - evaluate to the same value as its printed form at the same point,
//   - evaluate and differentiate without crashing, throwing only a Domain
//     error when NaN/Inf checks are on, and draw as DOT.
// A broken rule prints what broke and aborts, which libFuzzer (or the
// corpus replay test) reports as a crash.
#include "tools/expression.hpp"

#include <autograd/dot.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

namespace {

[[noreturn]] void broken(const char* rule, std::string_view input, const std::string& detail) {
    std::fprintf(stderr, "fuzz_expression: %s\n  input: \"%.*s\"\n  %s\n", rule, static_cast<int>(input.size()),
                 input.data(), detail.c_str());
    std::abort();
}

bool same(double a, double b) { return a == b || (std::isnan(a) && std::isnan(b)); }

// Values for the variables: ordinary points, and 0 and negatives so that
// log, sqrt, / and pow hit their domain edges.
constexpr double points[] = {0.5, -1.5, 2.0, 0.0, 3.0, -0.25};

std::vector<ag::Value> leaves_for(const ag::expr::Expression& e) {
    std::vector<ag::Value> xs;
    for (std::size_t k = 0; k < e.variables().size(); ++k)
        xs.emplace_back(points[k % std::size(points)], e.variables()[k].name);
    return xs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    ag::Scope scope;  // every node recorded for this input is freed on return
    const std::string_view text(reinterpret_cast<const char*>(data), size);

    std::optional<ag::expr::Expression> e;
    try {
        e.emplace(text);
    } catch (const ag::expr::ExpressionError& err) {
        if (err.column() > size) broken("error column beyond the input", text, err.what());
        if (err.kind() == ag::expr::ExpressionError::Kind::Domain)
            broken("domain error from the parser", text, err.what());
        if (std::strlen(err.what()) == 0) broken("empty error message", text, "");
        (void)ag::expr::pointer_line(text, err.column(), err.length());
        return 0;
    }

    const std::string printed = e->to_string();
    std::optional<ag::expr::Expression> reparsed;
    try {
        reparsed.emplace(printed);
    } catch (const ag::expr::ExpressionError& err) {
        // Full parenthesization deepens nesting: only the depth limit may object.
        if (std::string_view(err.what()).find("nested more than") == std::string_view::npos)
            broken("printed form does not parse", text, printed + "\n  " + err.what());
    }
    if (reparsed && reparsed->to_string() != printed)
        broken("printed form changes when reparsed", text, printed + " -> " + reparsed->to_string());

    const std::vector<ag::Value> xs = leaves_for(*e);
    const ag::Value unchecked = e->evaluate(xs, false);
    (void)ag::grad(unchecked, xs);
    if (reparsed) {
        // Variables appear in the same order in the printed form.
        const double again = reparsed->evaluate(leaves_for(*reparsed), false).data();
        if (!same(again, unchecked.data()))
            broken("printed form evaluates differently", text,
                   printed + ": " + std::to_string(unchecked.data()) + " vs " + std::to_string(again));
    }
    try {
        const ag::Value f = e->evaluate(xs, true);
        if (!same(f.data(), unchecked.data())) broken("checked and unchecked evaluation differ", text, "");
        if (!std::isfinite(f.data())) broken("checked evaluation returned a non-finite value", text, "");
        f.backward();
        if (ag::to_dot(f).rfind("digraph", 0) != 0) broken("to_dot output is not a digraph", text, "");
    } catch (const ag::expr::ExpressionError& err) {
        if (err.kind() != ag::expr::ExpressionError::Kind::Domain)
            broken("evaluation threw a non-domain error", text, err.what());
        if (err.column() + err.length() > size) broken("domain error points beyond the input", text, err.what());
    }
    return 0;
}
