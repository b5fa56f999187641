#include <autograd/value.hpp>

#include <fmt/format.h>

#include <ostream>
#include <stdexcept>

namespace ag {

std::vector<double> grad(const Value& f, const std::vector<Value>& wrt) {
    Tape& t = tape();
    for (const Value& v : wrt)
        if (!v.is_constant()) v.checked_index("ag::grad");
    if (f.is_constant()) return std::vector<double>(wrt.size(), 0.0);  // depends on nothing
    const std::uint32_t root = f.checked_index("ag::grad");
    // Scratch adjoints, so no .grad() on the tape changes.
    std::vector<double> adj(std::size_t{root} + 1, 0.0);
    const detail::Sweep s = detail::TapeAccess::scratch_sweep(t, adj.data());
    detail::TapeAccess::seed(t, root, s);
    detail::TapeAccess::sweep(t, root, s);
    std::vector<double> out;
    out.reserve(wrt.size());
    for (const Value& v : wrt) out.push_back(!v.is_constant() && v.index() <= root ? adj[v.index()] : 0.0);
    return out;
}

void zero_grad(const std::vector<Value>& values) {
    for (const Value& v : values) v.zero_grad();
}

void Value::set_name(std::string name) const { tape_checked().set_name(id_.index, std::move(name)); }

std::string Value::name() const {
    const std::string* n = tape_checked().name(id_.index);
    return n ? *n : std::string();
}

std::ostream& operator<<(std::ostream& os, const Value& v) { return os << fmt::format("{}", v); }

void detail::throw_not_alive(const Value& a, const char* op) {
    tape().check(a.id(), op);  // throws: the handle is stale or empty
    throw std::logic_error(fmt::format("{}: internal error: a live operand took the rare path", op));
}

Value detail::muladd_slow(const Value& a, const Value& b, const Value& c) {
    for (const Value* v : {&a, &b, &c})
        if (!v->is_constant() && !tape().alive(v->id())) throw_not_alive(*v, ops::MulAdd::name);
    // Constants as plain numbers, so that they record nothing of their own:
    // muladd(x, constant(2), constant(1)) is x * 2.0 + 1.0, two nodes.
    const auto number = [](const Value& v) { return constant_data(v); };
    const Value p = a.is_constant() ? (b.is_constant() ? Value::constant(number(a) * number(b)) : number(a) * b)
                                    : (b.is_constant() ? a * number(b) : a * b);
    if (p.is_constant()) return c.is_constant() ? Value::constant(number(p) + number(c)) : c + number(p);
    return c.is_constant() ? p + number(c) : p + c;
}

}  // namespace ag

fmt::format_context::iterator fmt::formatter<ag::Value>::format(const ag::Value& v, format_context& ctx) const {
    ag::Tape& t = ag::tape();
    if (v.is_constant()) return fmt::format_to(ctx.out(), "Value(data={}, constant)", v.data());
    if (!t.alive(v.id())) return fmt::format_to(ctx.out(), "Value(<freed>)");
    return fmt::format_to(ctx.out(), "Value(data={}, grad={})", t.value(v.index()), t.adjoint(v.index()));
}
