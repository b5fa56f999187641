#include "expression.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <numbers>

namespace ag::expr {

namespace {

using Kind = ExpressionError::Kind;

struct FunctionInfo {
    std::string_view name;
    Func func;
    int arity;
};
constexpr FunctionInfo functions[] = {
    {"exp", Func::Exp, 1},           {"log", Func::Log, 1},     {"sqrt", Func::Sqrt, 1},   {"tanh", Func::Tanh, 1},
    {"sigmoid", Func::Sigmoid, 1},   {"relu", Func::Relu, 1},   {"sin", Func::Sin, 1},     {"cos", Func::Cos, 1},
    {"abs", Func::Abs, 1},           {"tan", Func::Tan, 1},     {"atan", Func::Atan, 1},   {"sinh", Func::Sinh, 1},
    {"cosh", Func::Cosh, 1},         {"log1p", Func::Log1p, 1}, {"expm1", Func::Expm1, 1}, {"erf", Func::Erf, 1},
    {"softplus", Func::Softplus, 1}, {"gelu", Func::Gelu, 1},   {"pow", Func::Pow, 2},     {"min", Func::Min, 2},
    {"max", Func::Max, 2},
};

struct ConstantInfo {
    std::string_view name;
    double value;
};
constexpr ConstantInfo constants[] = {{"pi", std::numbers::pi}, {"e", std::numbers::e}};

const FunctionInfo* find_function(std::string_view name) {
    for (const auto& f : functions)
        if (f.name == name) return &f;
    return nullptr;
}
const ConstantInfo* find_constant(std::string_view name) {
    for (const auto& c : constants)
        if (c.name == name) return &c;
    return nullptr;
}

// The infix spelling of the binary operators ("" for the others).
std::string_view infix(Func f) {
    switch (f) {
        case Func::Add: return "+";
        case Func::Sub: return "-";
        case Func::Mul: return "*";
        case Func::Div: return "/";
        case Func::Pow: return "^";
        default: return "";
    }
}
std::string_view function_name(Func f) {
    for (const auto& fi : functions)
        if (fi.func == f) return fi.name;
    return "";
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// 10xxxxxx: a byte inside a UTF-8 sequence, not the start of a character.
bool is_utf8_continuation(char c) { return (static_cast<unsigned char>(c) >> 6) == 0x2; }

// Length of the UTF-8 character starting at s[i] if it is a well-formed
// one, else 0.
std::size_t utf8_length(std::string_view s, std::size_t i) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k)
        if (!is_utf8_continuation(s[i + k])) return 0;
    return len;
}

enum class Tok { Number, Name, Plus, Minus, Star, Slash, Caret, LParen, RParen, Comma, End };

struct Token {
    Tok kind = Tok::End;
    std::size_t begin = 0, end = 0;
};

// Recursive descent over the grammar in expression.hpp, one function per
// rule, emitting nodes in post-order.
class Parser {
public:
    explicit Parser(std::string_view text) : s_(text) {}

    void parse() {
        advance();
        if (tok_.kind == Tok::End) fail(Kind::Syntax, tok_, "the expression is empty");
        parse_expr();
        if (tok_.kind == Tok::RParen) fail(Kind::Syntax, tok_, "unmatched ')'");
        if (tok_.kind != Tok::End)
            fail(Kind::Syntax, tok_,
                 fmt::format("expected an operator (+ - * / ^) or the end of the expression, found {}{}",
                             describe(tok_), missing_operator_hint()));
    }

    std::vector<Node> nodes;
    std::vector<VariableUse> variables;
    Expression::NameIndex variable_index;  // a hash lookup per name: many variables stay linear

private:
    std::string_view text(const Token& t) const { return s_.substr(t.begin, t.end - t.begin); }

    [[noreturn]] void fail(Kind kind, const Token& t, const std::string& message) const {
        throw ExpressionError(kind, t.begin, t.end - t.begin, message);
    }

    std::string describe(const Token& t) const {
        switch (t.kind) {
            case Tok::End: return "the end of the expression";
            case Tok::Number: return fmt::format("the number {}", text(t));
            default: return fmt::format("'{}'", text(t));
        }
    }

    // "2x" and "2(x+1)": a likely forgotten '*'.
    std::string missing_operator_hint() const {
        if (tok_.kind == Tok::Name || tok_.kind == Tok::Number || tok_.kind == Tok::LParen)
            return " (multiplication needs an explicit '*')";
        return "";
    }

    void advance() {
        std::size_t i = tok_.end;
        while (i < s_.size() && is_space(s_[i])) ++i;
        tok_.begin = i;
        if (i == s_.size()) {
            tok_ = {Tok::End, i, i};
            return;
        }
        const char c = s_[i];
        if (is_digit(c) || (c == '.' && i + 1 < s_.size() && is_digit(s_[i + 1]))) {
            lex_number(i);
            return;
        }
        if (is_name_start(c)) {
            std::size_t j = i + 1;
            while (j < s_.size() && is_name_char(s_[j])) ++j;
            tok_ = {Tok::Name, i, j};
            return;
        }
        Tok k;
        switch (c) {
            case '+': k = Tok::Plus; break;
            case '-': k = Tok::Minus; break;
            case '*': k = Tok::Star; break;
            case '/': k = Tok::Slash; break;
            case '^': k = Tok::Caret; break;
            case '(': k = Tok::LParen; break;
            case ')': k = Tok::RParen; break;
            case ',': k = Tok::Comma; break;
            default: unexpected_character(i);
        }
        tok_ = {k, i, i + 1};
    }

    [[noreturn]] void unexpected_character(std::size_t i) const {
        const auto c = static_cast<unsigned char>(s_[i]);
        if (c >= 0x20 && c < 0x7f)
            throw ExpressionError(Kind::Syntax, i, 1, fmt::format("unexpected character '{}'", s_[i]));
        if (const std::size_t len = utf8_length(s_, i); len > 0)
            throw ExpressionError(
                Kind::Syntax, i, len,
                fmt::format("unexpected character '{}' (only ASCII operators are understood: + - * / ^)",
                            s_.substr(i, len)));
        throw ExpressionError(Kind::Syntax, i, 1, fmt::format("unexpected byte 0x{:02x}", c));
    }

    void lex_number(std::size_t i) {
        std::size_t j = i;
        while (j < s_.size() && is_digit(s_[j])) ++j;
        if (j < s_.size() && s_[j] == '.') {
            ++j;
            while (j < s_.size() && is_digit(s_[j])) ++j;
        }
        if (j < s_.size() && (s_[j] == 'e' || s_[j] == 'E')) {
            std::size_t k = j + 1;
            if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
            if (k == s_.size() || !is_digit(s_[k]))
                throw ExpressionError(Kind::Syntax, i, k - i,
                                      fmt::format("expected digits after the exponent in '{}'", s_.substr(i, k - i)));
            while (k < s_.size() && is_digit(s_[k])) ++k;
            j = k;
        }
        tok_ = {Tok::Number, i, j};
    }

    std::uint32_t emit(Node n) {
        nodes.push_back(n);
        return static_cast<std::uint32_t>(nodes.size() - 1);
    }
    std::uint32_t emit(Func f, const Token& where, std::uint32_t a, std::uint32_t b = 0) {
        Node n;
        n.func = f;
        n.a = a;
        n.b = b;
        n.column = static_cast<std::uint32_t>(where.begin);
        n.length = static_cast<std::uint32_t>(where.end - where.begin);
        return emit(n);
    }

    std::uint32_t parse_expr() {
        std::uint32_t lhs = parse_term();
        while (tok_.kind == Tok::Plus || tok_.kind == Tok::Minus) {
            const Token op = tok_;
            advance();
            const std::uint32_t rhs = parse_term();
            lhs = emit(op.kind == Tok::Plus ? Func::Add : Func::Sub, op, lhs, rhs);
        }
        return lhs;
    }

    std::uint32_t parse_term() {
        std::uint32_t lhs = parse_unary();
        while (tok_.kind == Tok::Star || tok_.kind == Tok::Slash) {
            const Token op = tok_;
            advance();
            const std::uint32_t rhs = parse_unary();
            lhs = emit(op.kind == Tok::Star ? Func::Mul : Func::Div, op, lhs, rhs);
        }
        return lhs;
    }

    // Every level of nesting passes through here, so this is where depth is
    // bounded.
    std::uint32_t parse_unary() {
        if (++depth_ > Expression::max_depth)
            fail(Kind::Syntax, tok_,
                 fmt::format("the expression is nested more than {} levels deep", Expression::max_depth));
        std::uint32_t result;
        if (tok_.kind == Tok::Minus || tok_.kind == Tok::Plus) {
            const Token op = tok_;
            advance();
            const std::uint32_t operand = parse_unary();
            result = op.kind == Tok::Minus ? emit(Func::Neg, op, operand) : operand;
        } else {
            result = parse_power();
        }
        --depth_;
        return result;
    }

    std::uint32_t parse_power() {
        const std::uint32_t base = parse_primary();
        if (tok_.kind != Tok::Caret) return base;
        const Token op = tok_;
        advance();
        const std::uint32_t exponent = parse_unary();
        return emit(Func::Pow, op, base, exponent);
    }

    std::uint32_t parse_primary() {
        const Token t = tok_;
        switch (t.kind) {
            case Tok::Number: {
                advance();
                // The lexer checked the form, so strtod reads exactly this token.
                const std::string digits(text(t));
                Node n;
                n.number = std::strtod(digits.c_str(), nullptr);
                if (std::isinf(n.number))
                    fail(Kind::Syntax, t,
                         fmt::format("the number {} is too large for a double (max about 1.8e308)", digits));
                n.column = static_cast<std::uint32_t>(t.begin);
                n.length = static_cast<std::uint32_t>(t.end - t.begin);
                return emit(n);
            }
            case Tok::Name: return parse_name();
            case Tok::LParen: {
                advance();
                const std::uint32_t inner = parse_expr();
                if (tok_.kind != Tok::RParen)
                    fail(Kind::Syntax, tok_,
                         fmt::format("expected ')' to close the '(' at column {}, found {}", t.begin + 1,
                                     describe(tok_)));
                advance();
                return inner;
            }
            default: {
                std::string hint;
                if (t.kind == Tok::Star && t.begin > 0 && s_[t.begin - 1] == '*')
                    hint = " (write powers as x ^ 2, not x ** 2)";
                if (t.kind == Tok::RParen && t.begin > 0 && s_[t.begin - 1] == '(') hint = " (empty parentheses)";
                fail(Kind::Syntax, t,
                     fmt::format("expected a number, a variable, a function call or '(', found {}{}", describe(t),
                                 hint));
            }
        }
    }

    std::uint32_t parse_name() {
        const Token t = tok_;
        const std::string_view name = text(t);
        advance();
        const bool call = tok_.kind == Tok::LParen;
        const FunctionInfo* f = find_function(name);
        if (const ConstantInfo* c = find_constant(name)) {
            if (call) fail(Kind::UnknownName, t, fmt::format("'{}' is a constant, not a function", name));
            Node n;
            n.func = Func::Constant;
            n.number = c->value;
            n.column = static_cast<std::uint32_t>(t.begin);
            n.length = static_cast<std::uint32_t>(t.end - t.begin);
            return emit(n);
        }
        if (!call) {
            if (f)
                fail(Kind::Syntax, tok_,
                     fmt::format("expected '(' after the function name '{}', found {}", name, describe(tok_)));
            return variable(name, t);
        }
        if (!f) {
            std::string known;
            for (const auto& fi : functions) known += fmt::format("{}{}", known.empty() ? "" : " ", fi.name);
            fail(Kind::UnknownName, t, fmt::format("unknown function '{}' (functions: {})", name, known));
        }
        const Token open = tok_;
        advance();
        std::vector<std::uint32_t> args;
        if (tok_.kind != Tok::RParen) {
            args.push_back(parse_expr());
            while (tok_.kind == Tok::Comma) {
                advance();
                args.push_back(parse_expr());
            }
        }
        if (tok_.kind != Tok::RParen)
            fail(Kind::Syntax, tok_,
                 fmt::format("expected ',' or ')' in the arguments of {}( at column {}, found {}", name, open.begin + 1,
                             describe(tok_)));
        advance();
        if (static_cast<int>(args.size()) != f->arity)
            fail(
                Kind::Syntax, t,
                fmt::format("{} takes {} argument{}, found {}", name, f->arity, f->arity == 1 ? "" : "s", args.size()));
        return emit(f->func, t, args[0], f->arity == 2 ? args[1] : 0);
    }

    std::uint32_t variable(std::string_view name, const Token& t) {
        auto it = variable_index.find(name);
        if (it == variable_index.end()) {
            it = variable_index.emplace(std::string(name), variables.size()).first;
            variables.push_back({std::string(name), t.begin});
        }
        return emit(Func::Variable, t, static_cast<std::uint32_t>(it->second));
    }

    std::string_view s_;
    Token tok_;
    int depth_ = 0;
};

// A value during evaluation: a plain number while it depends on no
// variable (folded on the spot), a Value on the tape once it does.
struct Operand {
    bool is_constant = true;
    double c = 0;
    Value v;
    double value() const { return is_constant ? c : v.data(); }
};
Operand constant(double c) { return {true, c, {}}; }
Operand recorded(Value v) { return {false, 0, v}; }

template <class OpT, class F>
Operand unary(const Operand& a, F on_value) {
    return a.is_constant ? constant(OpT::f(a.c)) : recorded(on_value(a.v));
}

// vv: both on the tape; vc: a on the tape, b constant; cv: the reverse.
template <class OpT, class VV, class VC, class CV>
Operand binary(const Operand& a, const Operand& b, VV vv, VC vc, CV cv) {
    if (a.is_constant && b.is_constant) return constant(OpT::f(a.c, b.c));
    if (a.is_constant) return recorded(cv(a.c, b.v));
    if (b.is_constant) return recorded(vc(a.v, b.c));
    return recorded(vv(a.v, b.v));
}

Operand apply(Func f, const Operand& a, const Operand& b) {
    switch (f) {
        case Func::Neg: return unary<ops::Neg>(a, [](const Value& x) { return -x; });
        case Func::Exp: return unary<ops::Exp>(a, [](const Value& x) { return exp(x); });
        case Func::Log: return unary<ops::Log>(a, [](const Value& x) { return log(x); });
        case Func::Sqrt: return unary<ops::Sqrt>(a, [](const Value& x) { return sqrt(x); });
        case Func::Tanh: return unary<ops::Tanh>(a, [](const Value& x) { return tanh(x); });
        case Func::Sigmoid: return unary<ops::Sigmoid>(a, [](const Value& x) { return sigmoid(x); });
        case Func::Relu: return unary<ops::Relu>(a, [](const Value& x) { return relu(x); });
        case Func::Sin: return unary<ops::Sin>(a, [](const Value& x) { return sin(x); });
        case Func::Cos: return unary<ops::Cos>(a, [](const Value& x) { return cos(x); });
        case Func::Abs: return unary<ops::Abs>(a, [](const Value& x) { return abs(x); });
        case Func::Tan: return unary<ops::Tan>(a, [](const Value& x) { return tan(x); });
        case Func::Atan: return unary<ops::Atan>(a, [](const Value& x) { return atan(x); });
        case Func::Sinh: return unary<ops::Sinh>(a, [](const Value& x) { return sinh(x); });
        case Func::Cosh: return unary<ops::Cosh>(a, [](const Value& x) { return cosh(x); });
        case Func::Log1p: return unary<ops::Log1p>(a, [](const Value& x) { return log1p(x); });
        case Func::Expm1: return unary<ops::Expm1>(a, [](const Value& x) { return expm1(x); });
        case Func::Erf: return unary<ops::Erf>(a, [](const Value& x) { return erf(x); });
        case Func::Softplus: return unary<ops::Softplus>(a, [](const Value& x) { return softplus(x); });
        case Func::Gelu: return unary<ops::Gelu>(a, [](const Value& x) { return gelu(x); });
        case Func::Add:
            return binary<ops::Add>(
                a, b, [](const Value& x, const Value& y) { return x + y; },
                [](const Value& x, double c) { return x + c; }, [](double c, const Value& y) { return c + y; });
        case Func::Sub:
            return binary<ops::Sub>(
                a, b, [](const Value& x, const Value& y) { return x - y; },
                [](const Value& x, double c) { return x - c; }, [](double c, const Value& y) { return c - y; });
        case Func::Mul:
            return binary<ops::Mul>(
                a, b, [](const Value& x, const Value& y) { return x * y; },
                [](const Value& x, double c) { return x * c; }, [](double c, const Value& y) { return c * y; });
        case Func::Div:
            return binary<ops::Div>(
                a, b, [](const Value& x, const Value& y) { return x / y; },
                [](const Value& x, double c) { return x / c; }, [](double c, const Value& y) { return c / y; });
        case Func::Pow:
            return binary<ops::Pow>(
                a, b, [](const Value& x, const Value& y) { return pow(x, y); },
                [](const Value& x, double c) { return pow(x, c); }, [](double c, const Value& y) { return pow(c, y); });
        // The engine has no min/max with a constant: the constant becomes a leaf.
        case Func::Min:
            return binary<ops::Min>(
                a, b, [](const Value& x, const Value& y) { return min(x, y); },
                [](const Value& x, double c) { return min(x, Value(c)); },
                [](double c, const Value& y) { return min(Value(c), y); });
        case Func::Max:
            return binary<ops::Max>(
                a, b, [](const Value& x, const Value& y) { return max(x, y); },
                [](const Value& x, double c) { return max(x, Value(c)); },
                [](double c, const Value& y) { return max(Value(c), y); });
        case Func::Number:
        case Func::Constant:
        case Func::Variable: break;
    }
    throw std::logic_error("ag::expr: apply() called on a leaf node");
}

// "log(-1) is nan (not a number)", "1 / 0 is inf (infinite)".
std::string domain_message(Func f, double a, double b, double result) {
    // Negative operands of an operator in parentheses: (-8) ^ 0.5.
    auto operand = [](double v) { return v < 0 ? fmt::format("({})", v) : fmt::format("{}", v); };
    std::string call;
    if (f == Func::Neg)
        call = fmt::format("-{}", operand(a));
    else if (!infix(f).empty())
        call = fmt::format("{} {} {}", operand(a), infix(f), operand(b));
    else if (f == Func::Min || f == Func::Max)
        call = fmt::format("{}({}, {})", function_name(f), a, b);
    else
        call = fmt::format("{}({})", function_name(f), a);
    // fmt prints a NaN with its sign bit as "-nan"; the sign means nothing here.
    return fmt::format("{} is {}", call,
                       std::isnan(result) ? "nan (not a number)" : fmt::format("{} (infinite)", result));
}

bool is_binary(Func f) {
    return f == Func::Add || f == Func::Sub || f == Func::Mul || f == Func::Div || f == Func::Pow || f == Func::Min ||
           f == Func::Max;
}

}  // namespace

std::string pointer_line(std::string_view text, std::size_t column, std::size_t length) {
    column = std::min(column, text.size());
    const std::size_t end = std::min(column + std::max<std::size_t>(length, 1), text.size());
    std::string line;
    for (std::size_t i = 0; i < column; ++i)
        if (!is_utf8_continuation(text[i])) line += text[i] == '\t' ? '\t' : ' ';
    line.append(std::max<std::size_t>(display_width(text.substr(column, end - column)), 1), '^');
    return line;
}

bool is_reserved_name(std::string_view name) { return find_function(name) || find_constant(name); }

bool is_variable_name(std::string_view name) {
    return !name.empty() && is_name_start(name[0]) && std::all_of(name.begin(), name.end(), is_name_char);
}

std::size_t display_width(std::string_view text) {
    return static_cast<std::size_t>(
        std::count_if(text.begin(), text.end(), [](char c) { return !is_utf8_continuation(c); }));
}

Expression::Expression(std::string_view text) : text_(text) {
    // Columns are stored in 32 bits; no sensible expression comes near.
    constexpr std::size_t max_length = std::size_t{1} << 24;
    if (text.size() > max_length)
        throw ExpressionError(
            Kind::Syntax, 0, 1,
            fmt::format("the expression is {} bytes long; at most {} are accepted", text.size(), max_length));
    Parser p(text_);
    p.parse();
    nodes_ = std::move(p.nodes);
    variables_ = std::move(p.variables);
    variable_index_ = std::move(p.variable_index);
}

std::optional<std::size_t> Expression::variable_index(std::string_view name) const {
    const auto it = variable_index_.find(name);
    if (it == variable_index_.end()) return std::nullopt;
    return it->second;
}

Value Expression::evaluate(std::span<const Value> values, bool check_finite) const {
    if (values.size() != variables_.size())
        throw std::invalid_argument(fmt::format("Expression::evaluate: {} values given for {} variables of \"{}\"",
                                                values.size(), variables_.size(), text_));
    std::vector<Operand> result(nodes_.size());
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        const Node& n = nodes_[i];
        switch (n.func) {
            case Func::Number:
            case Func::Constant: result[i] = constant(n.number); break;
            case Func::Variable: result[i] = recorded(values[n.a]); break;
            default: {
                const Operand& a = result[n.a];
                const Operand& b = is_binary(n.func) ? result[n.b] : a;
                result[i] = apply(n.func, a, b);
                const double y = result[i].value();
                if (check_finite && !std::isfinite(y))
                    throw ExpressionError(Kind::Domain, n.column, n.length,
                                          domain_message(n.func, a.value(), b.value(), y));
            }
        }
    }
    const Operand& root = result.back();
    return root.is_constant ? Value(root.c) : root.v;
}

std::string Expression::to_string() const {
    // Each operand's text was once built as its own string and copied into
    // its parent's, which is quadratic for a long chain (x + x + ... + x is
    // a tree as deep as it is long). Here a stack of pending pieces (text,
    // or a node still to write) appends everything to one string; no
    // recursion, however deep the tree.
    struct Piece {
        std::string_view text;
        std::uint32_t node = 0;
        bool is_node = false;
    };
    auto text_piece = [](std::string_view t) { return Piece{t, 0, false}; };
    auto node_piece = [](std::uint32_t i) { return Piece{{}, i, true}; };
    auto spaced = [](Func f) -> std::string_view {
        switch (f) {
            case Func::Add: return " + ";
            case Func::Sub: return " - ";
            case Func::Mul: return " * ";
            case Func::Div: return " / ";
            default: return " ^ ";
        }
    };

    std::string out;
    std::vector<Piece> pending = {node_piece(static_cast<std::uint32_t>(nodes_.size() - 1))};
    while (!pending.empty()) {
        const Piece piece = pending.back();
        pending.pop_back();
        if (!piece.is_node) {
            out += piece.text;
            continue;
        }
        const Node& n = nodes_[piece.node];
        // Pushed in reverse: the last piece pushed is written first.
        switch (n.func) {
            case Func::Number: fmt::format_to(std::back_inserter(out), "{}", n.number); break;
            case Func::Constant: out += std::string_view(text_).substr(n.column, n.length); break;
            case Func::Variable: out += variables_[n.a].name; break;
            case Func::Neg:
                out += "(-";
                pending.push_back(text_piece(")"));
                pending.push_back(node_piece(n.a));
                break;
            default:
                if (!infix(n.func).empty()) {
                    out += "(";
                    pending.push_back(text_piece(")"));
                    pending.push_back(node_piece(n.b));
                    pending.push_back(text_piece(spaced(n.func)));
                    pending.push_back(node_piece(n.a));
                } else {
                    out += function_name(n.func);
                    out += "(";
                    pending.push_back(text_piece(")"));
                    if (is_binary(n.func)) {
                        pending.push_back(node_piece(n.b));
                        pending.push_back(text_piece(", "));
                    }
                    pending.push_back(node_piece(n.a));
                }
        }
    }
    return out;
}

}  // namespace ag::expr
