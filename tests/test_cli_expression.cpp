// The expression parser behind the tapegrad tool: grammar (precedence,
// associativity, numbers), values and gradients against the library's own
// ops, every error class with its column, and the caret line.
#ifdef TAPEGRAD_HAVE_EXPR
#include "tools/expression.hpp"

#include <autograd/autograd.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <clocale>
#include <cmath>
#include <functional>
#include <numbers>
#include <string>
#include <vector>

using ag::expr::Expression;
using ag::expr::ExpressionError;
using Kind = ag::expr::ExpressionError::Kind;

namespace {

// The thrown error for `text` (parsing, then evaluating at `values`).
ExpressionError error_of(const std::string& text, const std::vector<double>& values = {}) {
    try {
        Expression e(text);
        std::vector<ag::Value> xs(values.begin(), values.end());
        e.evaluate(xs);
    } catch (const ExpressionError& err) {
        return err;
    }
    FAIL("no error for \"" << text << "\"");
    return ExpressionError(Kind::Syntax, 0, 0, "");
}

double value_of(const std::string& text, const std::vector<double>& values = {}) {
    ag::Scope scope;
    Expression e(text);
    std::vector<ag::Value> xs(values.begin(), values.end());
    return e.evaluate(xs).data();
}

}  // namespace

TEST_CASE("precedence and associativity, seen through the parenthesized form") {
    const std::pair<const char*, const char*> cases[] = {
        {"1 + 2 * 3", "(1 + (2 * 3))"},
        {"(1 + 2) * 3", "((1 + 2) * 3)"},
        {"a - b - c", "((a - b) - c)"},
        {"a / b / c", "((a / b) / c)"},
        {"a * b / c * d", "(((a * b) / c) * d)"},
        {"2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"},
        {"-x ^ 2", "(-(x ^ 2))"},
        {"2 ^ -x", "(2 ^ (-x))"},
        {"-2 * x", "((-2) * x)"},
        {"--x", "(-(-x))"},
        {"+x - +1", "(x - 1)"},
        {"a + b * c ^ d", "(a + (b * (c ^ d)))"},
        {"(a + b) ^ (c - d)", "((a + b) ^ (c - d))"},
        {"pow(x, y) + min(1, x) * max(x, 2)", "((x ^ y) + (min(1, x) * max(x, 2)))"},
        {"exp(log(sqrt(tanh(sigmoid(relu(sin(cos(abs(x)))))))))",
         "exp(log(sqrt(tanh(sigmoid(relu(sin(cos(abs(x)))))))))"},
        {"2*pi*e", "((2 * pi) * e)"},
        {" \t( x\n+\ry ) ", "(x + y)"},
        {"1.5e-3 + .25 + 2. + 1E+2 + 007", "((((0.0015 + 0.25) + 2) + 100) + 7)"},
    };
    for (const auto& [text, printed] : cases) {
        INFO("expression: ", std::string(text));
        const Expression e(text);
        CHECK(e.to_string() == printed);
        CHECK(Expression(e.to_string()).to_string() == printed);
    }
}

TEST_CASE("numbers, constants and operator values") {
    CHECK(value_of("2 ^ 3 ^ 2") == 512);
    CHECK(value_of("-2 ^ 2") == -4);
    CHECK(value_of("2 ^ -1") == 0.5);
    CHECK(value_of("7 - 2 - 1") == 4);
    CHECK(value_of("8 / 4 / 2") == 1);
    CHECK(value_of("1.5e-3 * 1e3") == doctest::Approx(1.5).epsilon(1e-15));
    CHECK(value_of(".5 + 2.") == 2.5);
    CHECK(value_of("1E+2 - 1e2") == 0);
    CHECK(value_of("pi") == std::numbers::pi);
    CHECK(value_of("e") == std::numbers::e);
    CHECK(value_of("1e-400") == 0);  // underflows to zero, as in C and Python
    CHECK(value_of("x * y - x", {3, 4}) == 9);
}

TEST_CASE("each function and operator matches the library's value and gradient") {
    struct Case {
        const char* text;
        std::vector<double> point;
        std::function<ag::Value(const std::vector<ag::Value>&)> same_in_cpp;
    };
    const Case cases[] = {
        {"exp(x)", {0.7}, [](auto& v) { return ag::exp(v[0]); }},
        {"log(x)", {0.7}, [](auto& v) { return ag::log(v[0]); }},
        {"sqrt(x)", {0.7}, [](auto& v) { return ag::sqrt(v[0]); }},
        {"tanh(x)", {0.7}, [](auto& v) { return ag::tanh(v[0]); }},
        {"sigmoid(x)", {-0.7}, [](auto& v) { return ag::sigmoid(v[0]); }},
        {"relu(x)", {0.7}, [](auto& v) { return ag::relu(v[0]); }},
        {"relu(x)", {-0.7}, [](auto& v) { return ag::relu(v[0]); }},
        {"sin(x)", {0.7}, [](auto& v) { return ag::sin(v[0]); }},
        {"cos(x)", {0.7}, [](auto& v) { return ag::cos(v[0]); }},
        {"abs(x)", {-0.7}, [](auto& v) { return ag::abs(v[0]); }},
        {"tan(x)", {0.7}, [](auto& v) { return ag::tan(v[0]); }},
        {"atan(x)", {0.7}, [](auto& v) { return ag::atan(v[0]); }},
        {"sinh(x)", {0.7}, [](auto& v) { return ag::sinh(v[0]); }},
        {"cosh(x)", {0.7}, [](auto& v) { return ag::cosh(v[0]); }},
        {"log1p(x)", {0.7}, [](auto& v) { return ag::log1p(v[0]); }},
        {"expm1(x)", {0.7}, [](auto& v) { return ag::expm1(v[0]); }},
        {"erf(x)", {0.7}, [](auto& v) { return ag::erf(v[0]); }},
        {"softplus(x)", {-0.7}, [](auto& v) { return ag::softplus(v[0]); }},
        {"gelu(x)", {-0.7}, [](auto& v) { return ag::gelu(v[0]); }},
        {"pow(x, y)", {1.3, 2.2}, [](auto& v) { return ag::pow(v[0], v[1]); }},
        {"x ^ y", {1.3, 2.2}, [](auto& v) { return ag::pow(v[0], v[1]); }},
        {"x ^ 3", {1.3}, [](auto& v) { return ag::pow(v[0], 3.0); }},
        {"2 ^ x", {1.3}, [](auto& v) { return ag::pow(2.0, v[0]); }},
        {"min(x, y)", {1.3, 2.2}, [](auto& v) { return ag::min(v[0], v[1]); }},
        {"max(x, y)", {1.3, 2.2}, [](auto& v) { return ag::max(v[0], v[1]); }},
        {"min(x, 2)", {1.3}, [](auto& v) { return ag::min(v[0], ag::Value(2.0)); }},
        {"max(3, x)", {1.3}, [](auto& v) { return ag::max(ag::Value(3.0), v[0]); }},
        {"(x + y) * z", {-2, 5, -4}, [](auto& v) { return (v[0] + v[1]) * v[2]; }},
        {"x - y / z", {-2, 5, -4}, [](auto& v) { return v[0] - v[1] / v[2]; }},
        {"1 - x / 4 + 2 / y", {-2, 5}, [](auto& v) { return 1.0 - v[0] / 4.0 + 2.0 / v[1]; }},
        {"-x * 2*pi", {0.3}, [](auto& v) { return -v[0] * 2.0 * std::numbers::pi; }},
        {"tanh(w1*x1 + w2*x2 + b)",
         {-3, 2, 1, 0, 6.8813735870195432},
         [](auto& v) { return ag::tanh(v[0] * v[1] + v[2] * v[3] + v[4]); }},
        {"x * x * x + sigmoid(x) ^ 2 - log(abs(x))",
         {-1.7},
         [](auto& v) {
             // Sequenced as the parser records it, so x's adjoint sums in the same order.
             const ag::Value cube = v[0] * v[0] * v[0];
             const ag::Value square = ag::pow(ag::sigmoid(v[0]), 2.0);
             return cube + square - ag::log(ag::abs(v[0]));
         }},
    };
    for (const Case& c : cases) {
        INFO("expression: ", std::string(c.text));
        ag::Scope scope;
        const Expression e(c.text);
        REQUIRE(e.variables().size() == c.point.size());
        std::vector<ag::Value> xs(c.point.begin(), c.point.end());
        const ag::Value parsed = e.evaluate(xs);
        const ag::Value direct = c.same_in_cpp(xs);
        // Same ops in the same order: the same bits.
        CHECK(parsed.data() == direct.data());
        const std::vector<double> g_parsed = ag::grad(parsed, xs), g_direct = ag::grad(direct, xs);
        for (std::size_t k = 0; k < xs.size(); ++k) CHECK(g_parsed[k] == g_direct[k]);
        // And the gradient is right: against central differences.
        const auto report =
            ag::check_gradients([&](const std::vector<ag::Value>& v) { return e.evaluate(v, false); }, c.point);
        CHECK_MESSAGE(report.ok(), report.table());
    }
}

TEST_CASE("variables in first-appearance order with columns, and constants folded") {
    ag::Scope scope;
    const Expression e("y * x + exp(y) - zeta_2");
    REQUIRE(e.variables().size() == 3);
    CHECK(e.variables()[0].name == "y");
    CHECK(e.variables()[0].column == 0);
    CHECK(e.variables()[1].name == "x");
    CHECK(e.variables()[1].column == 4);
    CHECK(e.variables()[2].name == "zeta_2");
    CHECK(e.variables()[2].column == 17);
    CHECK(e.variable_index("x") == 1u);
    CHECK_FALSE(e.variable_index("exp"));

    // 2 * pi * x: one node on the tape after the leaf (x * 6.28...).
    const Expression folded("2 * pi * x");
    ag::Value x = 0.5;
    const std::uint32_t before = ag::tape().size();
    const ag::Value f = folded.evaluate(std::vector<ag::Value>{x});
    CHECK(ag::tape().size() == before + 1);
    CHECK(ag::tape().op(f.index()) == ag::Op::MulC);
    CHECK(f.data() == 2 * std::numbers::pi * 0.5);
    // An expression without variables is a leaf holding its value.
    const ag::Value c = Expression("(1 + 2) * 3").evaluate({});
    CHECK(c.is_leaf());
    CHECK(c.data() == 9);

    CHECK_THROWS_WITH_AS(e.evaluate(std::vector<ag::Value>{x}),
                         "Expression::evaluate: 1 values given for 3 variables of \"y * x + exp(y) - zeta_2\"",
                         std::invalid_argument);
}

TEST_CASE("syntax errors say what was expected, where") {
    struct Case {
        const char* text;
        std::size_t column, length;
        const char* message;
    };
    const Case cases[] = {
        {"", 0, 1, "the expression is empty"},
        {"   ", 3, 1, "the expression is empty"},
        {"(x + y", 6, 1, "expected ')' to close the '(' at column 1, found the end of the expression"},
        {"x +", 3, 1, "expected a number, a variable, a function call or '(', found the end of the expression"},
        {"x + * y", 4, 1, "expected a number, a variable, a function call or '(', found '*'"},
        {"x ** 2", 3, 1,
         "expected a number, a variable, a function call or '(', found '*' (write powers as x ^ 2, not x ** 2)"},
        {"()", 1, 1, "expected a number, a variable, a function call or '(', found ')' (empty parentheses)"},
        {"2x", 1, 1,
         "expected an operator (+ - * / ^) or the end of the expression, found 'x' (multiplication needs an explicit "
         "'*')"},
        {"x y", 2, 1,
         "expected an operator (+ - * / ^) or the end of the expression, found 'y' (multiplication needs an explicit "
         "'*')"},
        {"1.2.3", 3, 2,
         "expected an operator (+ - * / ^) or the end of the expression, found the number .3 (multiplication needs an "
         "explicit '*')"},
        {"x)", 1, 1, "unmatched ')'"},
        {"x $ y", 2, 1, "unexpected character '$'"},
        {"x\x01", 1, 1, "unexpected byte 0x01"},
        {"2 \xc3\x97 x", 2, 2, "unexpected character '\xc3\x97' (only ASCII operators are understood: + - * / ^)"},
        {"1e+", 0, 3, "expected digits after the exponent in '1e+'"},
        {"3 * 2E", 4, 2, "expected digits after the exponent in '2E'"},
        {"exp x", 4, 1, "expected '(' after the function name 'exp', found 'x'"},
        {"x + log", 7, 1, "expected '(' after the function name 'log', found the end of the expression"},
        {"pow(x)", 0, 3, "pow takes 2 arguments, found 1"},
        {"max(1, 2, 3)", 0, 3, "max takes 2 arguments, found 3"},
        {"sin()", 0, 3, "sin takes 1 argument, found 0"},
        {"min(1 2)", 6, 1, "expected ',' or ')' in the arguments of min( at column 4, found the number 2"},
        {"1e999 * x", 0, 5, "the number 1e999 is too large for a double (max about 1.8e308)"},
    };
    for (const Case& c : cases) {
        INFO("expression: ", std::string(c.text));
        const ExpressionError err = error_of(c.text);
        CHECK(err.kind() == Kind::Syntax);
        CHECK(err.column() == c.column);
        CHECK(err.length() == c.length);
        CHECK(std::string(err.what()) == c.message);
    }
}

TEST_CASE("unknown functions and constants called as functions are named") {
    ExpressionError err = error_of("1 + foo(x)");
    CHECK(err.kind() == Kind::UnknownName);
    CHECK(err.column() == 4);
    CHECK(err.length() == 3);
    CHECK(std::string(err.what()) ==
          "unknown function 'foo' (functions: exp log sqrt tanh sigmoid relu sin cos abs tan atan sinh cosh "
          "log1p expm1 erf softplus gelu pow min max)");
    err = error_of("pi(2)");
    CHECK(err.kind() == Kind::UnknownName);
    CHECK(std::string(err.what()) == "'pi' is a constant, not a function");
    CHECK(ag::expr::is_reserved_name("sigmoid"));
    CHECK(ag::expr::is_reserved_name("e"));
    CHECK_FALSE(ag::expr::is_reserved_name("x"));
}

TEST_CASE("domain errors name the operation that made NaN or Inf, and where") {
    struct Case {
        const char* text;
        std::vector<double> point;
        std::size_t column, length;
        const char* message;
    };
    const Case cases[] = {
        {"1 + log(x)", {-1}, 4, 3, "log(-1) is nan (not a number)"},
        {"log(x)", {0}, 0, 3, "log(0) is -inf (infinite)"},
        {"sqrt(x - 5)", {1}, 0, 4, "sqrt(-4) is nan (not a number)"},
        {"y + 1 / x", {2, 0}, 6, 1, "1 / 0 is inf (infinite)"},
        {"x / y", {1, 0}, 2, 1, "1 / 0 is inf (infinite)"},
        {"x ^ 0.5", {-8}, 2, 1, "(-8) ^ 0.5 is nan (not a number)"},
        {"pow(x, y)", {-8, 0.5}, 0, 3, "(-8) ^ 0.5 is nan (not a number)"},
        {"exp(x)", {1000}, 0, 3, "exp(1000) is inf (infinite)"},
        {"x * 1e308 * 10", {1}, 10, 1, "1e+308 * 10 is inf (infinite)"},
        {"log(-1) + x", {1}, 0, 3, "log(-1) is nan (not a number)"},  // folded constants are checked too
        {"x - x + 0 / 0", {1}, 10, 1, "0 / 0 is nan (not a number)"},
    };
    for (const Case& c : cases) {
        INFO("expression: ", std::string(c.text));
        ag::Scope scope;
        const ExpressionError err = error_of(c.text, c.point);
        CHECK(err.kind() == Kind::Domain);
        CHECK(err.column() == c.column);
        CHECK(err.length() == c.length);
        CHECK(std::string(err.what()) == c.message);
        // Unchecked, the same expression evaluates to the non-finite value.
        std::vector<ag::Value> xs(c.point.begin(), c.point.end());
        CHECK_FALSE(std::isfinite(Expression(c.text).evaluate(xs, false).data()));
    }
}

TEST_CASE("nesting is bounded but long flat expressions are not") {
    const int limit = Expression::max_depth;
    std::string deep = std::string(limit - 1, '(') + "x" + std::string(limit - 1, ')');
    CHECK(Expression(deep).to_string() == "x");
    deep = std::string(limit + 5, '(') + "x" + std::string(limit + 5, ')');
    ExpressionError err = error_of(deep);
    CHECK(err.kind() == Kind::Syntax);
    CHECK(err.column() == static_cast<std::size_t>(limit));  // the first '(' too deep
    CHECK(std::string(err.what()) == fmt::format("the expression is nested more than {} levels deep", limit));
    CHECK(error_of(std::string(100000, '-') + "x").kind() == Kind::Syntax);
    CHECK(error_of("2" + std::string(50000, '^')).kind() == Kind::Syntax);

    // 100000 terms: parsed and evaluated with loops, not recursion.
    std::string sum = "x";
    for (int i = 0; i < 100000; ++i) sum += " + x";
    ag::Scope scope;
    ag::Value x = 0.5;
    const ag::Value f = Expression(sum).evaluate(std::vector<ag::Value>{x});
    CHECK(f.data() == 50000.5);
    CHECK(ag::grad(f, {x})[0] == 100001);
}

TEST_CASE("pointer_line marks the column, counting UTF-8 characters once and keeping tabs") {
    CHECK(ag::expr::pointer_line("(x + y", 6) == "      ^");
    CHECK(ag::expr::pointer_line("foo(x) + y", 0, 3) == "^^^");
    CHECK(ag::expr::pointer_line("a\tb $", 4) == " \t  ^");
    CHECK(ag::expr::pointer_line("\xc3\xa9 + \xc3\x97", 5, 2) == "    ^");
    CHECK(ag::expr::pointer_line("x", 10) == " ^");  // clamped to just past the end
    CHECK(ag::expr::pointer_line("", 0) == "^");
}

TEST_CASE("display_width counts each UTF-8 character once") {
    CHECK(ag::expr::display_width("") == 0);
    CHECK(ag::expr::display_width("x + 1") == 5);
    CHECK(ag::expr::display_width("\xe2\x88\x82"
                                  "f/"
                                  "\xe2\x88\x82"
                                  "var") == 7);                                 // ∂f/∂var: 3-byte ∂
    CHECK(ag::expr::display_width("\xc3\xa9t\xc3\xa9 \xf0\x9f\x98\x80") == 5);  // été 😀: 2- and 4-byte sequences
}

// The one rule behind the command line's NAME=VALUE check and the parser:
// a name passes exactly when the parser reads the same text as one variable.
TEST_CASE("is_variable_name accepts exactly what the parser reads as one variable name") {
    auto parsed_as_one_variable = [](const std::string& text) {
        try {
            const Expression e(text);
            return e.variables().size() == 1 && e.variables()[0].name == text;
        } catch (const ExpressionError&) {
            return false;
        }
    };
    const char* names[] = {"x", "_", "_a1", "B_2", "Zz9", "x1y2_"};
    const char* not_names[] = {"", "1x", "9", "a-b", "x y", "a.b", "x=", "\xc3\xa9", "caf\xc3\xa9", "\xe9", "x\xe9"};
    for (const char* name : names) {
        CAPTURE(name);
        CHECK(ag::expr::is_variable_name(name));
        CHECK(parsed_as_one_variable(name));
    }
    for (const char* text : not_names) {
        CAPTURE(text);
        CHECK_FALSE(ag::expr::is_variable_name(text));
        CHECK_FALSE(parsed_as_one_variable(text));
    }
    // Spelled as names but reserved: the caller checks is_reserved_name.
    CHECK(ag::expr::is_variable_name("pi"));
    CHECK(ag::expr::is_variable_name("exp"));
    CHECK_FALSE(parsed_as_one_variable("pi"));

    // ASCII under any locale: a Latin-1 locale calls 0xe9 (é) a letter for
    // isalpha, but the parser does not, so neither does the name rule.
    const std::string before = std::setlocale(LC_CTYPE, nullptr);
    for (const char* locale : {"C.UTF-8", "C.utf8", "en_US.ISO-8859-1", "fr_FR.ISO-8859-1", "de_DE.ISO-8859-1"}) {
        if (std::setlocale(LC_CTYPE, locale) == nullptr) continue;
        CAPTURE(locale);
        CHECK_FALSE(ag::expr::is_variable_name("\xe9"));
        CHECK_FALSE(ag::expr::is_variable_name("caf\xc3\xa9"));
        CHECK(ag::expr::is_variable_name("cafe"));
    }
    std::setlocale(LC_CTYPE, before.c_str());
}

#endif  // TAPEGRAD_HAVE_EXPR
