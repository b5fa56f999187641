// ag::to_dot: which nodes and edges it draws, what the labels say, escaping,
// options and errors, and that Graphviz accepts the output.
#include "tests/scratch_dir.hpp"
#include <autograd/autograd.hpp>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace {

// Lines of the DOT text that start with `  n` (node and edge statements).
std::vector<std::string> statements(const std::string& dot) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (std::size_t nl; (nl = dot.find('\n', start)) != std::string::npos; start = nl + 1)
        if (dot.compare(start, 3, "  n") == 0) out.push_back(dot.substr(start + 2, nl - start - 2));
    return out;
}

// node id -> label (still DOT-escaped), from lines `  nID [label="..."...];`
std::map<int, std::string> node_labels(const std::string& dot) {
    std::map<int, std::string> labels;
    for (const std::string& st : statements(dot)) {
        const std::string open = " [label=\"";
        const auto at = st.find(open);
        if (at == std::string::npos || st.find(" -> ") != std::string::npos) continue;
        std::size_t end = at + open.size();
        while (st[end] != '"') end += st[end] == '\\' ? 2 : 1;
        labels[std::stoi(st.substr(1, at - 1))] = st.substr(at + open.size(), end - at - open.size());
    }
    return labels;
}

// (from, to, edge label or "") from lines `  nA -> nB;` / `  nA -> nB [label="a"];`
std::set<std::tuple<int, int, std::string>> edges(const std::string& dot) {
    std::set<std::tuple<int, int, std::string>> out;
    for (const std::string& st : statements(dot)) {
        const auto arrow = st.find(" -> n");
        if (arrow == std::string::npos) continue;
        std::size_t used = 0;
        const int to = std::stoi(st.substr(arrow + 5), &used);
        const std::string rest = st.substr(arrow + 5 + used);
        std::string label;
        for (const char* letter : {"a", "b", "c"})
            if (rest == fmt::format(" [label=\"{}\"];", letter)) label = letter;
        if (label.empty()) REQUIRE(rest == ";");
        out.insert({std::stoi(st.substr(1, arrow - 1)), to, label});
    }
    return out;
}

std::string node_line(const std::string& dot, int id) {
    const std::string key = fmt::format("\n  n{} [", id);
    const auto at = dot.find(key);
    REQUIRE(at != std::string::npos);
    return dot.substr(at + 1, dot.find('\n', at + 1) - at - 1);
}

std::size_t count(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
    return n;
}

bool have_graphviz() { return std::system("command -v dot > /dev/null 2>&1") == 0; }

// Runs `dot -Tsvg` on the text; returns its exit status and the SVG.
std::pair<int, std::string> render_svg(const std::string& dot_text) {
    const auto in = scratch_path("g.dot"), out = scratch_path("g.svg");
    std::ofstream(in) << dot_text;
    const int status =
        std::system(fmt::format("dot -Tsvg '{}' -o '{}' 2>/dev/null", in.string(), out.string()).c_str());
    std::ifstream svg(out);
    std::string text((std::istreambuf_iterator<char>(svg)), std::istreambuf_iterator<char>());
    return {status, text};
}

}  // namespace

TEST_CASE("to_dot draws the nodes the root depends on, with op, value and gradient") {
    ag::Scope scope;
    const std::uint32_t base = ag::tape().size();
    ag::Value x(-2.0, "x"), y(5.0, "y"), z(-4.0, "z");
    ag::Value unrelated = x * y;  // recorded, but f does not use it
    ag::Value q = x + y;
    ag::Value f = q * z;
    f.set_name("f");
    f.backward();
    const std::string dot = ag::to_dot(f);

    CHECK(dot.rfind("digraph tapegrad {\n", 0) == 0);
    CHECK(dot.size() >= 2);
    CHECK(dot.substr(dot.size() - 2) == "}\n");
    const int ix = static_cast<int>(x.index()), iy = static_cast<int>(y.index()), iz = static_cast<int>(z.index());
    const int iq = static_cast<int>(q.index()), i_f = static_cast<int>(f.index());
    CHECK(ix == static_cast<int>(base));

    const auto labels = node_labels(dot);
    CHECK(labels.size() == 5);
    CHECK(labels.count(static_cast<int>(unrelated.index())) == 0);
    CHECK(labels.at(ix) == "x\\nvalue -2\\ngrad -4");
    CHECK(labels.at(iy) == "y\\nvalue 5\\ngrad -4");
    CHECK(labels.at(iz) == "z\\nvalue -4\\ngrad 3");
    CHECK(labels.at(iq) == "+\\nvalue 3\\ngrad -4");
    CHECK(labels.at(i_f) == "f: *\\nvalue -12\\ngrad 1");

    const std::set<std::tuple<int, int, std::string>> expected = {
        {ix, iq, ""}, {iy, iq, ""}, {iq, i_f, ""}, {iz, i_f, ""}};
    CHECK(edges(dot) == expected);

    // Leaves are filled; the root (only) has a double border.
    CHECK(node_line(dot, ix).find("style=filled") != std::string::npos);
    CHECK(node_line(dot, iq).find("style=filled") == std::string::npos);
    CHECK(node_line(dot, i_f).find("peripheries=2") != std::string::npos);
    CHECK(node_line(dot, iq).find("peripheries") == std::string::npos);
}

TEST_CASE("to_dot labels ops with constants and the operands of non-commutative ops") {
    ag::Scope scope;
    ag::Value x(3.0, "x"), y(2.0, "y");
    ag::Value a = x * 2.0, b = x - 3.0, c = 2.0 / x, d = ag::pow(x, 3.0), e = 1.5 - x, g = ag::pow(2.0, x);
    ag::Value h = x + 0.25, k = x / 4.0;
    ag::Value s = x - y, t = x / y, p = ag::pow(x, y), m = ag::min(x, y), q = ag::muladd(y, x, a);
    ag::Value f = a + b + c + d + e + g + h + k + s + t + p + m + q;
    const auto labels = node_labels(ag::to_dot(f));
    auto op_of = [&](const ag::Value& v) {
        const std::string& l = labels.at(static_cast<int>(v.index()));
        return l.substr(0, l.find("\\n"));
    };
    CHECK(op_of(a) == "· * 2");
    CHECK(op_of(b) == "· - 3");  // recorded as x + (-3), shown as written
    CHECK(op_of(c) == "2 / ·");
    CHECK(op_of(d) == "· ^ 3");
    CHECK(op_of(e) == "1.5 - ·");
    CHECK(op_of(g) == "2 ^ ·");
    CHECK(op_of(h) == "· + 0.25");
    CHECK(op_of(k) == "· / 4");
    CHECK(op_of(s) == "a - b");
    CHECK(op_of(t) == "a / b");
    CHECK(op_of(p) == "a ^ b");
    CHECK(op_of(m) == "min");
    CHECK(op_of(q) == "a * b + c");

    const auto e_set = edges(ag::to_dot(f));
    const int ix = static_cast<int>(x.index()), iy = static_cast<int>(y.index());
    CHECK(e_set.count({ix, static_cast<int>(s.index()), "a"}) == 1);
    CHECK(e_set.count({iy, static_cast<int>(s.index()), "b"}) == 1);
    CHECK(e_set.count({iy, static_cast<int>(p.index()), "b"}) == 1);
    CHECK(e_set.count({ix, static_cast<int>(m.index()), ""}) == 1);
    CHECK(e_set.count({ix, static_cast<int>(a.index()), ""}) == 1);
    const int iq = static_cast<int>(q.index());
    CHECK(e_set.count({iy, iq, "a"}) == 1);
    CHECK(e_set.count({ix, iq, "b"}) == 1);
    CHECK(e_set.count({static_cast<int>(a.index()), iq, "c"}) == 1);
}

TEST_CASE("to_dot: every unary op by name, unnamed leaves, a leaf root, x * x") {
    ag::Scope scope;
    ag::Value x = 0.5;
    const ag::Value ops[] = {-x,          ag::exp(x), ag::log(x), ag::sqrt(x), ag::tanh(x), ag::sigmoid(x),
                             ag::relu(x), ag::sin(x), ag::cos(x), ag::abs(x)};
    const char* names[] = {"neg", "exp", "log", "sqrt", "tanh", "sigmoid", "relu", "sin", "cos", "abs"};
    for (std::size_t k = 0; k < std::size(ops); ++k) {
        const auto labels = node_labels(ag::to_dot(ops[k]));
        REQUIRE(labels.size() == 2);
        CHECK(labels.at(static_cast<int>(x.index())) == "leaf\\nvalue 0.5\\ngrad 0");
        CHECK(labels.at(static_cast<int>(ops[k].index())) ==
              fmt::format("{}\\nvalue {:.6g}\\ngrad 0", names[k], ops[k].data()));
    }
    // A leaf alone is a one-node graph.
    const std::string alone = ag::to_dot(x);
    CHECK(node_labels(alone).size() == 1);
    CHECK(edges(alone).empty());
    // Both operands the same node: two edges into the product.
    ag::Value sq = x * x;
    const std::string sq_dot = ag::to_dot(sq);
    CHECK(count(sq_dot, " -> ") == 2);
}

TEST_CASE("to_dot escapes names and options set precision, gradients and direction") {
    ag::Scope scope;
    ag::Value x(1.0 / 3.0, "say \"hi\"\\\nnext");
    ag::Value bad(2.0, std::string("a\x01") + "\xff" + "b\xc3\xa9");  // control byte, broken UTF-8, then é
    ag::Value f = x * bad;
    const std::string dot = ag::to_dot(f);
    const auto labels = node_labels(dot);
    CHECK(labels.at(static_cast<int>(x.index())) == "say \\\"hi\\\"\\\\\\nnext\\nvalue 0.333333\\ngrad 0");
    CHECK(labels.at(static_cast<int>(bad.index())) == "a??b\xc3\xa9\\nvalue 2\\ngrad 0");

    ag::DotOptions opts;
    opts.precision = 3;
    opts.show_grad = false;
    opts.rankdir = "TB";
    const std::string short_dot = ag::to_dot(f, opts);
    CHECK(node_labels(short_dot).at(static_cast<int>(x.index())).find("\\nvalue 0.333") != std::string::npos);
    CHECK(node_labels(short_dot).at(static_cast<int>(x.index())).find("0.3333") == std::string::npos);
    CHECK(short_dot.find("\\ngrad") == std::string::npos);
    CHECK(short_dot.find("rankdir=\"TB\"") != std::string::npos);

    if (have_graphviz()) {
        const auto [status, svg] = render_svg(dot);
        CHECK(status == 0);
        CHECK(svg.find("<svg") != std::string::npos);
        CHECK(svg.find("say &quot;hi&quot;") != std::string::npos);
    }
}

TEST_CASE("to_dot errors: stale and empty handles, bad precision") {
    ag::Value stale;
    {
        ag::Scope scope;
        stale = ag::Value(1.0) * 2.0;
    }
    CHECK_THROWS_WITH_AS(ag::to_dot(stale), doctest::Contains("to_dot: stale handle"), std::logic_error);
    CHECK_THROWS_WITH_AS(ag::to_dot(ag::Value()), doctest::Contains("to_dot: empty handle"), std::logic_error);
    ag::Scope scope;
    ag::Value x = 1.0;
    ag::DotOptions opts;
    opts.precision = 0;
    CHECK_THROWS_WITH_AS(ag::to_dot(x, opts), "to_dot: precision 0 is outside 1..17 digits", std::invalid_argument);
    opts.precision = 18;
    CHECK_THROWS_AS(ag::to_dot(x, opts), std::invalid_argument);
}

TEST_CASE("to_dot on a long chain, and Graphviz parses a neuron's graph") {
    ag::Scope scope;
    ag::Value x(0.1, "x");
    ag::Value v = x;
    for (int i = 0; i < 20000; ++i) v = v * 1.0001 + 0.001;
    const std::string big = ag::to_dot(v);
    CHECK(count(big, " [label=\"") == 40001);
    CHECK(count(big, " -> ") == 40000);

    // micrograd's neuron: o = tanh(x1*w1 + x2*w2 + b), with its published
    // gradients (w1: 1.0, x1: -1.5, b: 0.5 at o = 0.7071).
    ag::Value x1(2.0, "x1"), x2(0.0, "x2"), w1(-3.0, "w1"), w2(1.0, "w2"), b(6.8813735870195432, "b");
    ag::Value o = ag::tanh(x1 * w1 + x2 * w2 + b);
    o.set_name("o");
    o.backward();
    const std::string dot = ag::to_dot(o);
    const auto labels = node_labels(dot);
    CHECK(labels.size() == 10);
    CHECK(labels.at(static_cast<int>(o.index())) == "o: tanh\\nvalue 0.707107\\ngrad 1");
    CHECK(labels.at(static_cast<int>(x1.index())) == "x1\\nvalue 2\\ngrad -1.5");
    CHECK(labels.at(static_cast<int>(w1.index())) == "w1\\nvalue -3\\ngrad 1");
    CHECK(labels.at(static_cast<int>(b.index())) == "b\\nvalue 6.88137\\ngrad 0.5");
    if (have_graphviz()) {
        const auto [status, svg] = render_svg(dot);
        CHECK(status == 0);
        CHECK(svg.find("o: tanh") != std::string::npos);
        // One SVG group per node and per edge.
        CHECK(count(svg, "class=\"node\"") == 10);
        CHECK(count(svg, "class=\"edge\"") == 9);
    }
}

TEST_CASE("to_dot on tensors: op and shape per node, scalars with value and gradient, data dashed") {
    ag::Scope scope;
    ag::Tensor x({2, 3}, {1, -2, 3, -4, 5, -6});
    x.set_requires_grad(false);
    ag::Tensor w({3, 2}, {0.5, -1, 2, 0.25, -0.5, 1});
    ag::tape().set_name(w.index(), "w");
    ag::Tensor unrelated = w * 2.0;
    ag::Tensor h = ag::matmul(x, w);
    ag::Tensor loss = ag::mean(ag::relu(h));
    loss.backward();
    // h = x @ w = [[-5, 1.5], [11, -0.75]]; relu keeps 1.5 and 11; mean 12.5 / 4.
    REQUIRE(loss.item() == 3.125);
    const std::string dot = ag::to_dot(loss);
    const auto labels = node_labels(dot);
    CHECK(labels.size() == 5);  // x, w, matmul, relu, mean
    CHECK(dot.find("[label=\"leaf\\n[2, 3]\", style=dashed]") != std::string::npos);
    CHECK(dot.find("[label=\"w\\n[3, 2]\", style=filled") != std::string::npos);
    CHECK(dot.find("matmul\\n[2, 2]\"") != std::string::npos);
    CHECK(dot.find("mean\\n[]\\nvalue 3.125\\ngrad 1\", peripheries=2]") != std::string::npos);
    const auto e = edges(dot);
    CHECK(e.size() == 4);
    std::set<std::string> edge_labels;
    for (const auto& [from, to, label] : e) edge_labels.insert(label);
    CHECK(edge_labels == std::set<std::string>{"", "a", "b"});  // matmul's operands are told apart

    ag::Tensor32 f32 = ag::Tensor32::full({4}, 1.5);
    CHECK(ag::to_dot(ag::sum(f32)).find("[4] float32") != std::string::npos);
    CHECK_THROWS_AS(ag::to_dot(ag::Value::from_index(loss.index(), ag::tape())), std::invalid_argument);
    if (have_graphviz()) CHECK(render_svg(dot).first == 0);
    (void)unrelated;
}
