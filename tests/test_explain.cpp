// ag::explain: the trace of the chain rule read off the tape. Its numbers
// against hand values and against the engine's own sweep (bit for bit).
#include <autograd/autograd.hpp>
#include <autograd/explain.hpp>
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <numbers>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

// Every adjoint in the trace is the one the engine's sweep gives that node,
// every input receives adjoint × local derivative, and each adjoint is the
// sum, in order, of what it received.
void check_against_engine(const ag::Value& f, const ag::Explanation& e) {
    for (const ag::ExplainNode& row : e.nodes) {
        INFO("node #", row.node, " (", row.label, " = ", row.computes, ")");
        const ag::Value node = ag::Value::from_index(row.node, ag::tape());
        CHECK(row.adjoint == ag::grad(f, {node})[0]);
        CHECK(row.value == node.data());
        if (row.node != e.root) {
            double sum = 0;
            for (const ag::ExplainContribution& c : row.received) sum += c.amount;
            CHECK(sum == row.adjoint);
        }
        for (const ag::ExplainInput& in : row.inputs) {
            CHECK(in.sent == (row.skipped ? 0.0 : row.adjoint * in.local));
            const int operand = static_cast<int>(&in - &row.inputs[0]);
            CHECK(in.formula == ag::op_derivative_text(ag::tape().op(row.node), operand));
        }
    }
}

}  // namespace

TEST_CASE("explain (x + y) * z at (-2, 5, -4): the rows, by hand") {
    ag::Scope scope;
    const ag::Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
    const ag::Value q = x + y;
    const ag::Value f = q * z;
    const ag::Explanation e = ag::explain(f);
    REQUIRE(e.nodes.size() == 5);
    CHECK(e.root == f.index());
    CHECK(e.root_label == "f");
    CHECK(e.tensor_ops == 0);

    const ag::ExplainNode& fr = e.node(f);
    CHECK(fr.kind == ag::ExplainNode::Kind::Op);
    CHECK(fr.op == "*");
    CHECK(fr.computes == fmt::format("#{} * z", q.index()));
    CHECK(fr.value == -12);
    CHECK(fr.adjoint == 1);
    CHECK(fr.received.empty());
    REQUIRE(fr.inputs.size() == 2);
    CHECK(fr.inputs[0].node == q.index());
    CHECK(fr.inputs[0].letter == 'a');
    CHECK(fr.inputs[0].formula == "b");
    CHECK(fr.inputs[0].value == 3);
    CHECK(fr.inputs[0].local == -4);  // d(qz)/dq = z
    CHECK(fr.inputs[0].sent == -4);
    CHECK(fr.inputs[1].label == "z");
    CHECK(fr.inputs[1].letter == 'b');
    CHECK(fr.inputs[1].formula == "a");
    CHECK(fr.inputs[1].local == 3);  // d(qz)/dz = q
    CHECK(fr.inputs[1].sent == 3);

    const ag::ExplainNode& qr = e.node(q);
    CHECK(qr.computes == "x + y");
    CHECK(qr.value == 3);
    CHECK(qr.adjoint == -4);
    REQUIRE(qr.received.size() == 1);
    CHECK(qr.received[0].from == f.index());
    CHECK(qr.received[0].amount == -4);
    for (const ag::ExplainInput& in : qr.inputs) {
        CHECK(in.formula == "1");
        CHECK(in.local == 1);
        CHECK(in.sent == -4);
    }
    CHECK(e.node(x).kind == ag::ExplainNode::Kind::Leaf);
    CHECK(e.node(z).adjoint == 3);

    REQUIRE(e.gradient.size() == 3);
    const double hand[] = {-4, -4, 3};
    const char* names[] = {"x", "y", "z"};
    for (int k = 0; k < 3; ++k) {
        CHECK(e.gradient[k].label == names[k]);
        CHECK(e.gradient[k].gradient == hand[k]);
        CHECK(e.gradient[k].reached);
    }
    CHECK(ag::grad(f, {x, y, z}) == std::vector<double>{-4, -4, 3});
    check_against_engine(f, e);
    CHECK_THROWS_AS(e.node(12345u), std::out_of_range);
}

TEST_CASE("explain's text: the forward pass, the reverse sweep and the gradient") {
    ag::Scope scope;
    const std::uint32_t base = ag::tape().size();
    const ag::Value x(3.0, "x"), w(-0.5, "w");
    const ag::Value h = ag::tanh(w * x);  // w x = -1.5
    const ag::Value loss = h * h;         // h used twice: two contributions
    loss.set_name("loss");
    const double t = std::tanh(-1.5);
    const std::string p = fmt::format("#{}", base + 2), hl = fmt::format("#{}", base + 3);
    const std::string expected = fmt::format(
        "Forward pass (loss = {t2}):\n"
        "  x    = 3   (input)\n"
        "  w    = -0.5   (input)\n"
        "  {pp} = w * x = -1.5\n"
        "  {hp} = tanh({p}) = {t}\n"
        "  loss = {h} * {h} = {t2}\n"
        "\n"
        "Reverse sweep (adjoint = ∂loss/∂node; each node sends adjoint × local derivative to its inputs):\n"
        "  loss = {h} * {h} = {t2}: adjoint 1 (the seed)\n"
        "    in its rule: a = {h}, b = {h}, y = loss (the output)\n"
        "    to {h}: ∂loss/∂{h} = b = {t}; sends 1 × {t} = {t}\n"
        "    to {h}: ∂loss/∂{h} = a = {t}; sends 1 × {t} = {t}\n"
        "  {h} = tanh({p}) = {t}: adjoint {gh} = {t} from loss + {t} from loss\n"
        "    in its rule: a = {p}, y = {h} (the output)\n"
        "    to {p}: ∂{h}/∂{p} = 1 - y^2 = {d}; sends {gh} × {d} = {gp}\n"
        "  {p} = w * x = -1.5: adjoint {gp} (from {h})\n"
        "    in its rule: a = w, b = x, y = {p} (the output)\n"
        "    to w: ∂{p}/∂w = b = 3; sends {gp} × 3 = {gw}\n"
        "    to x: ∂{p}/∂x = a = -0.5; sends {gp} × -0.5 = {gx}\n"
        "  w (input): adjoint {gw} (from {p})\n"
        "  x (input): adjoint {gx} (from {p})\n"
        "\n"
        "Gradient:\n"
        "  ∂loss/∂x = {gx}\n"
        "  ∂loss/∂w = {gw}\n",
        fmt::arg("p", p), fmt::arg("h", hl), fmt::arg("pp", fmt::format("{:<4}", p)),
        fmt::arg("hp", fmt::format("{:<4}", hl)), fmt::arg("t", t), fmt::arg("t2", t * t), fmt::arg("gh", t + t),
        fmt::arg("d", 1 - t * t), fmt::arg("gp", (t + t) * (1 - t * t)), fmt::arg("gw", (t + t) * (1 - t * t) * 3),
        fmt::arg("gx", (t + t) * (1 - t * t) * -0.5));
    const ag::Explanation e = ag::explain(loss);
    CHECK(e.text() == expected);
    // The printed gradient is the engine's, bit for bit, and the hand value.
    const std::vector<double> g = ag::grad(loss, {x, w});
    CHECK(e.gradient[0].gradient == g[0]);
    CHECK(e.gradient[1].gradient == g[1]);
    CHECK(g[1] == doctest::Approx(2 * t * (1 - t * t) * 3).epsilon(1e-15));
    check_against_engine(loss, e);

    // Fewer digits on request; outside 0..17 is an error.
    CHECK(e.text(3).find(fmt::format("  {} = tanh({}) = -0.905: adjoint -1.81 = -0.905 from loss + -0.905 from loss\n",
                                     hl, p)) != std::string::npos);
    CHECK_THROWS_AS((void)e.text(18), std::invalid_argument);
    CHECK_THROWS_AS((void)e.text(-1), std::invalid_argument);
    CHECK_THROWS_AS((void)e.dot(0), std::invalid_argument);
}

TEST_CASE("explain: every op's local derivative is its rule's number, against hand values") {
    struct Case {
        const char* op;
        std::function<ag::Value(const ag::Value&, const ag::Value&)> build;
        std::vector<double> local;  // d node / d input, per input, by hand
        char letter = 'a';          // what the formula calls the (first) input
        std::optional<double> constant;
    };
    const double a = 0.7, b = 1.3;
    const double pi = std::numbers::pi;
    const Case cases[] = {
        {"neg", [](auto& u, auto&) { return -u; }, {-1}, 'a', std::nullopt},
        {"exp", [](auto& u, auto&) { return ag::exp(u); }, {std::exp(a)}, 'a', std::nullopt},
        {"log", [](auto& u, auto&) { return ag::log(u); }, {1 / a}, 'a', std::nullopt},
        {"sqrt", [](auto& u, auto&) { return ag::sqrt(u); }, {0.5 / std::sqrt(a)}, 'a', std::nullopt},
        {"tanh", [](auto& u, auto&) { return ag::tanh(u); }, {1 - std::tanh(a) * std::tanh(a)}, 'a', std::nullopt},
        {"sigmoid",
         [](auto& u, auto&) { return ag::sigmoid(u); },
         {std::exp(-a) / ((1 + std::exp(-a)) * (1 + std::exp(-a)))},
         'a',
         std::nullopt},
        {"relu", [](auto& u, auto&) { return ag::relu(u); }, {1}, 'a', std::nullopt},
        {"sin", [](auto& u, auto&) { return ag::sin(u); }, {std::cos(a)}, 'a', std::nullopt},
        {"cos", [](auto& u, auto&) { return ag::cos(u); }, {-std::sin(a)}, 'a', std::nullopt},
        {"abs", [](auto& u, auto&) { return ag::abs(u); }, {1}, 'a', std::nullopt},
        {"tan", [](auto& u, auto&) { return ag::tan(u); }, {1 / (std::cos(a) * std::cos(a))}, 'a', std::nullopt},
        {"atan", [](auto& u, auto&) { return ag::atan(u); }, {1 / (1 + a * a)}, 'a', std::nullopt},
        {"sinh", [](auto& u, auto&) { return ag::sinh(u); }, {std::cosh(a)}, 'a', std::nullopt},
        {"cosh", [](auto& u, auto&) { return ag::cosh(u); }, {std::sinh(a)}, 'a', std::nullopt},
        {"log1p", [](auto& u, auto&) { return ag::log1p(u); }, {1 / (1 + a)}, 'a', std::nullopt},
        {"expm1", [](auto& u, auto&) { return ag::expm1(u); }, {std::exp(a)}, 'a', std::nullopt},
        {"erf", [](auto& u, auto&) { return ag::erf(u); }, {2 / std::sqrt(pi) * std::exp(-a * a)}, 'a', std::nullopt},
        {"softplus", [](auto& u, auto&) { return ag::softplus(u); }, {1 / (1 + std::exp(-a))}, 'a', std::nullopt},
        {"gelu",
         [](auto& u, auto&) { return ag::gelu(u); },
         {0.5 * (1 + std::erf(a / std::sqrt(2.0))) + a * std::exp(-a * a / 2) / std::sqrt(2 * pi)},
         'a',
         std::nullopt},
        {"+", [](auto& u, auto& v) { return u + v; }, {1, 1}, 'a', std::nullopt},
        {"-", [](auto& u, auto& v) { return u - v; }, {1, -1}, 'a', std::nullopt},
        {"*", [](auto& u, auto& v) { return u * v; }, {b, a}, 'a', std::nullopt},
        {"/", [](auto& u, auto& v) { return u / v; }, {1 / b, -a / (b * b)}, 'a', std::nullopt},
        {"pow",
         [](auto& u, auto& v) { return ag::pow(u, v); },
         {b * std::pow(a, b - 1), std::pow(a, b) * std::log(a)},
         'a',
         std::nullopt},
        {"min", [](auto& u, auto& v) { return ag::min(u, v); }, {1, 0}, 'a', std::nullopt},
        {"max", [](auto& u, auto& v) { return ag::max(u, v); }, {0, 1}, 'a', std::nullopt},
        {"muladd", [](auto& u, auto& v) { return ag::muladd(u, v, v * v); }, {b, a, 1}, 'a', std::nullopt},
        {"+", [](auto& u, auto&) { return u + 2.5; }, {1}, 'a', 2.5},
        {"-", [](auto& u, auto&) { return 2.5 - u; }, {-1}, 'b', 2.5},
        {"*", [](auto& u, auto&) { return u * 2.5; }, {2.5}, 'a', 2.5},
        {"/", [](auto& u, auto&) { return u / 2.5; }, {1 / 2.5}, 'a', 2.5},
        {"/", [](auto& u, auto&) { return 2.5 / u; }, {-2.5 / (a * a)}, 'b', 2.5},
        {"pow", [](auto& u, auto&) { return ag::pow(u, 2.5); }, {2.5 * std::pow(a, 1.5)}, 'a', 2.5},
        {"pow", [](auto& u, auto&) { return ag::pow(2.5, u); }, {std::pow(2.5, a) * std::log(2.5)}, 'b', 2.5},
        {"leaky_relu", [](auto& u, auto&) { return ag::leaky_relu(-u, 0.1); }, {0.1}, 'a', 0.1},
        {"clamp_min", [](auto& u, auto&) { return ag::clamp_min(u, 1.0); }, {0}, 'a', 1.0},
        {"clamp_max", [](auto& u, auto&) { return ag::clamp_max(u, 1.0); }, {1}, 'a', 1.0},
    };
    for (const Case& c : cases) {
        INFO("op ", c.op, c.constant ? " with a constant" : "");
        ag::Scope scope;
        const ag::Value u(a, "u"), v(b, "v");
        const ag::Value f = c.build(u, v);
        const ag::Explanation e = ag::explain(f);
        // leaky_relu's case goes through neg first: look at the root.
        const ag::ExplainNode& root = e.node(f);
        CHECK(root.op == c.op);
        REQUIRE(root.inputs.size() == c.local.size());
        for (std::size_t k = 0; k < c.local.size(); ++k)
            CHECK(root.inputs[k].local == doctest::Approx(c.local[k]).epsilon(1e-14));
        CHECK(root.inputs[0].letter == c.letter);
        CHECK(root.constant == c.constant);
        // The constant's letter: c for a parameter, else the other operand's.
        const bool parameter = c.op == std::string("leaky_relu") || c.op[0] == 'c';
        if (c.constant) CHECK(root.constant_letter == (parameter ? 'c' : c.letter == 'a' ? 'b' : 'a'));
        check_against_engine(f, e);
    }
}

TEST_CASE("explain: muladd's three inputs are a, b and c, with their formulas, and it reads as written") {
    ag::Scope scope;
    const ag::Value u(0.7, "u"), v(1.3, "v"), w(-2.0, "w");
    const ag::Value f = ag::muladd(u, v, w);
    const ag::Explanation e = ag::explain(f);
    const ag::ExplainNode& root = e.node(f);
    CHECK(root.computes == "u * v + w");
    REQUIRE(root.inputs.size() == 3);
    CHECK(root.inputs[0].letter == 'a');
    CHECK(root.inputs[1].letter == 'b');
    CHECK(root.inputs[2].letter == 'c');
    CHECK(root.inputs[0].formula == std::string("b"));
    CHECK(root.inputs[1].formula == std::string("a"));
    CHECK(root.inputs[2].formula == std::string("1"));
    CHECK(root.inputs[2].label == "w");
    REQUIRE(e.gradient.size() == 3);  // the leaves u, v, w
    CHECK(e.gradient[0].gradient == 1.3);
    CHECK(e.gradient[1].gradient == 0.7);
    CHECK(e.gradient[2].gradient == 1.0);
    // With chosen inputs, a path through the third operand only.
    const ag::Explanation only_w = ag::explain(ag::muladd(u, v, w * w), {w});
    REQUIRE(only_w.gradient.size() == 1);
    CHECK(only_w.gradient[0].gradient == -4.0);
    check_against_engine(f, e);
}

TEST_CASE("explain with chosen inputs: only the paths from them, their gradients in order") {
    ag::Scope scope;
    const ag::Value x(2.0, "x"), y(3.0, "y"), z(4.0, "z"), unused(9.0, "unused");
    const ag::Value yz = y * z;  // not on a path from x
    const ag::Value f = ag::sin(x) * yz;
    const ag::Explanation e = ag::explain(f, {z, x, unused});
    CHECK_THROWS_AS(e.node(y), std::out_of_range);  // only on the path from y, which was not chosen
    CHECK(e.node(yz).adjoint == std::sin(2.0));
    REQUIRE(e.gradient.size() == 3);
    CHECK(e.gradient[0].label == "z");
    CHECK(e.gradient[0].gradient == ag::grad(f, {z})[0]);
    CHECK(e.gradient[0].gradient == doctest::Approx(std::sin(2.0) * 3).epsilon(1e-15));
    CHECK(e.gradient[1].gradient == ag::grad(f, {x})[0]);
    CHECK(e.gradient[1].gradient == doctest::Approx(std::cos(2.0) * 12).epsilon(1e-15));
    CHECK_FALSE(e.gradient[2].reached);
    CHECK(e.gradient[2].gradient == 0);
    CHECK(e.text().find("  ∂f/∂unused = 0 (f does not depend on it)\n") != std::string::npos);
    // The edge y -> yz is off the chosen paths: the row keeps it, marked.
    CHECK_FALSE(e.node(yz).inputs[0].traced);
    CHECK(e.node(yz).inputs[1].traced);
    const std::string off_path =
        fmt::format("    to y (not on a path from the chosen inputs): ∂#{}/∂y = b = 4; sends {} × 4 = {}\n", yz.index(),
                    std::sin(2.0), std::sin(2.0) * 4);
    CHECK(e.text().find(off_path) != std::string::npos);
    check_against_engine(f, e);
}

TEST_CASE("explain: f that depends on none of the chosen inputs has an empty trace and zero gradients") {
    ag::Scope scope;
    const ag::Value x(2.0, "x"), y(3.0, "y");
    const ag::Value f = ag::exp(y);
    const ag::Explanation e = ag::explain(f, {x});
    CHECK(e.nodes.empty());
    CHECK(e.root_value == std::exp(3.0));
    REQUIRE(e.gradient.size() == 1);
    CHECK_FALSE(e.gradient[0].reached);
    CHECK(e.gradient[0].gradient == 0);
    CHECK(e.text() == fmt::format("Forward pass (f = {}):\n\nReverse sweep (adjoint = ∂f/∂node; each node sends "
                                  "adjoint × local derivative to its inputs):\n\nGradient:\n  ∂f/∂x = 0 (f does not "
                                  "depend on it)\n",
                                  std::exp(3.0)));
}

TEST_CASE("explain: a zero adjoint is passed by, as the engine's sweep does") {
    ag::Scope scope;
    const ag::Value x(-1.0, "x");
    const ag::Value s = ag::sqrt(x * x - 1.0);  // sqrt at 0: an infinite local derivative
    const ag::Value f = ag::relu(x) * s + x;    // relu'(-1) = 0 and relu(-1) = 0
    const ag::Explanation e = ag::explain(f);
    CHECK(e.node(s).adjoint == 0);
    CHECK(e.node(s).skipped);
    CHECK(e.node(s).inputs[0].sent == 0);  // not 0 * inf = NaN
    CHECK(std::isinf(e.node(s).inputs[0].local));
    CHECK(e.gradient[0].gradient == ag::grad(f, {x})[0]);
    CHECK(e.gradient[0].gradient == 1);
    const std::string text = e.text();
    CHECK(text.find(fmt::format("  #{} = sqrt(#{}) = 0: adjoint 0 (from #{}); zero, so it sends nothing\n", s.index(),
                                s.index() - 1, s.index() + 2)) != std::string::npos);
}

TEST_CASE("explain lists tensor ops without going through them") {
    ag::Scope scope;
    const ag::Tensor t(ag::Shape{3}, {1.0, 2.0, 3.0});
    const ag::Value total = ag::to_value(ag::sum(t));
    const ag::Value x(2.0, "x");
    const ag::Value f = total * x;
    const ag::Explanation e = ag::explain(f);
    CHECK(e.tensor_ops == 1);
    const ag::ExplainNode& row = e.node(total);
    CHECK(row.kind == ag::ExplainNode::Kind::Tensor);
    CHECK(row.op == "to_value");
    CHECK(row.value == 6);
    CHECK(row.adjoint == 2);
    CHECK(row.inputs.empty());
    CHECK(e.gradient.size() == 1);  // x: the tensor's leaf is behind the tensor op
    CHECK(e.gradient[0].gradient == 6);
    CHECK(e.text().find("note: 1 tensor op listed but not traced through") != std::string::npos);
}

TEST_CASE("explain: stale handles are refused") {
    ag::Value f;
    CHECK_THROWS_AS((void)ag::explain(f), std::logic_error);
    ag::Value x(1.0);
    {
        ag::Scope scope;
        const ag::Value y(2.0);
        f = x * y;
    }
    CHECK_THROWS_AS((void)ag::explain(f), std::logic_error);
    const ag::Value g = x * 3.0;
    ag::Value stale;
    {
        ag::Scope scope;
        stale = ag::Value(1.0);
    }
    CHECK_THROWS_AS((void)ag::explain(g, {stale}), std::logic_error);
}

TEST_CASE("explain's DOT: values and adjoints on the nodes, local derivatives on the edges, names escaped") {
    ag::Scope scope;
    const ag::Value x(2.0, "x \"quoted\" \xff");
    const ag::Value f = ag::pow(x, 3.0);
    const std::string dot = ag::explain(f).dot(4);
    const std::string i = std::to_string(x.index()), j = std::to_string(f.index());
    CHECK(dot.find("  n" + i + " [label=\"x \\\"quoted\\\" ?\\nvalue 2\\nadjoint 12\", style=filled") !=
          std::string::npos);
    CHECK(dot.find("  n" + j + " [label=\"f = x \\\"quoted\\\" ? ^ 3\\nvalue 8\\nadjoint 1\", peripheries=2];") !=
          std::string::npos);
    // d(x^3)/dx = 3 x^2 = 12, by Pow's rule with b = 3.
    CHECK(dot.find("  n" + i + " -> n" + j + " [label=\"∂/∂a = b a^(b - 1)\\n= 12\"];") != std::string::npos);
}
