#pragma once
// Scalar expressions typed by a user, e.g. "(x + y) * z" or "tanh(2*x)^2",
// parsed into a small post-order list of nodes and then evaluated on the
// current tape with ag::Value operations, so the engine differentiates them.
// Used by the `tapegrad` command-line tool and by the parser's fuzz target.
//
// Grammar (usual precedence, loosest first):
//     expr    := term (('+' | '-') term)*
//     term    := unary (('*' | '/') unary)*
//     unary   := ('-' | '+') unary | power
//     power   := primary ('^' unary)?          right-associative: 2^3^2 = 2^9
//     primary := number | name | name '(' expr (',' expr)* ')' | '(' expr ')'
//     number  := digits ['.' digits] [('e'|'E') ['+'|'-'] digits]  (or '.' digits ...)
// As in Python and in mathematics, -x^2 = -(x^2) and 2^-1 = 0.5.
// Functions: exp log sqrt tanh sigmoid relu sin cos abs tan atan sinh cosh
// log1p expm1 erf softplus gelu (one argument), pow min max (two). Constants: pi, e. Any other name is a variable.
// Whitespace (space, tab, newline) separates tokens and is otherwise ignored.
//
// Constant subexpressions are folded (2 * pi is one number) and an op with
// one constant operand uses the engine's op-with-constant form (x * 2 is one
// node), so the recorded graph holds only what depends on the variables.
#include <autograd/value.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ag::expr {

// Every problem with an expression. `column` is the 0-based byte offset of
// the offending text in the expression, `length` its length in bytes (at
// least 1), so a caller can point at it (see pointer_line()).
class ExpressionError : public std::runtime_error {
public:
    enum class Kind {
        Syntax,       // malformed text: the message says what was expected
        UnknownName,  // a function that does not exist
        Domain,       // evaluation produced NaN or Inf (log(-1), 1/0, ...)
    };
    ExpressionError(Kind kind, std::size_t column, std::size_t length, const std::string& message)
        : std::runtime_error(message), kind_(kind), column_(column), length_(length < 1 ? 1 : length) {}
    Kind kind() const noexcept { return kind_; }
    std::size_t column() const noexcept { return column_; }
    std::size_t length() const noexcept { return length_; }

private:
    Kind kind_;
    std::size_t column_, length_;
};

// The line to print under `text` to mark bytes [column, column + length):
// spaces (tabs kept as tabs, a UTF-8 character counted once) then carets.
std::string pointer_line(std::string_view text, std::size_t column, std::size_t length = 1);

// What a node computes.
enum class Func : std::uint8_t {
    Number,
    Constant,
    Variable,
    Neg,
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Exp,
    Log,
    Sqrt,
    Tanh,
    Sigmoid,
    Relu,
    Sin,
    Cos,
    Abs,
    Tan,
    Atan,
    Sinh,
    Cosh,
    Log1p,
    Expm1,
    Erf,
    Softplus,
    Gelu,
    Min,
    Max,
};

struct Node {
    Func func = Func::Number;
    std::uint32_t a = 0, b = 0;            // operand nodes; for Variable, a = variable index
    double number = 0;                     // for Number and Constant
    std::uint32_t column = 0, length = 0;  // where it is written (operator, function or name)
};

struct VariableUse {
    std::string name;
    std::size_t column = 0;  // its first occurrence
};

class Expression {
public:
    // Parses `text`; throws ExpressionError (Syntax or UnknownName).
    explicit Expression(std::string_view text);

    const std::string& text() const noexcept { return text_; }
    // The variables in order of first appearance.
    const std::vector<VariableUse>& variables() const noexcept { return variables_; }
    std::optional<std::size_t> variable_index(std::string_view name) const;
    const std::vector<Node>& nodes() const noexcept { return nodes_; }

    // Records the expression on the current tape; values[k] is the Value of
    // variables()[k]. With check_finite, the first operation whose result is
    // NaN or Inf throws ExpressionError (Domain) pointing at it.
    Value evaluate(std::span<const Value> values, bool check_finite = true) const;

    // Fully parenthesized form, which parses back to the same nodes:
    // "(x + y) * -z" -> "((x + y) * (-z))". Built in one pass into one
    // string, so its cost is linear in the length of the result.
    std::string to_string() const;

    // Deeper nesting than this (parentheses, unary signs, powers) is a
    // syntax error rather than a stack overflow.
    static constexpr int max_depth = 200;

    // Looks names up by string_view without making a std::string.
    struct NameHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
    };
    using NameIndex = std::unordered_map<std::string, std::size_t, NameHash, std::equal_to<>>;

private:
    std::string text_;
    std::vector<Node> nodes_;  // post-order: operands first, the root last
    std::vector<VariableUse> variables_;
    NameIndex variable_index_;  // name -> position in variables_
};

// Whether `name` is a function or constant of the language (so it cannot
// name a variable).
bool is_reserved_name(std::string_view name);

// Whether `name` is spelled as the parser reads a name: ASCII letters,
// digits and '_', not starting with a digit (a reserved name passes too).
// ASCII whatever the locale, so a name given on the command line is
// accepted exactly when the parser would read the same text as one name.
bool is_variable_name(std::string_view name);

// Characters on screen, counting a UTF-8 sequence once ("∂f" is 2), for
// lining up text in columns.
std::size_t display_width(std::string_view text);

}  // namespace ag::expr
