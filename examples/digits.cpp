// Example 6: the 1797 handwritten 8x8 digits, a tensor MLP 64-128-10
// trained with Adam in mini-batches.
#include "examples/classify_report.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
    CLI::App app("Handwritten digits: tensor MLP 64-128-10, Adam, stratified 75/25 split");
    examples::ClassifierSetup setup = examples::digits_setup(std::string(TAPEGRAD_EXAMPLES_DIR) + "/data");
    std::string out_dir = TAPEGRAD_EXAMPLES_OUT;
    app.add_option("--data", setup.path, "the digits CSV (.csv or .csv.gz)");
    app.add_option("--out", out_dir, "directory for the pictures");
    app.add_option("--epochs", setup.epochs, "epochs")->check(CLI::PositiveNumber);
    app.add_option("--seed", setup.seed, "seed of the split, the weights and the shuffles");
    CLI11_PARSE(app, argc, argv);

    setup.progress = ag::nn::Progress::Off;  // the table below shows every epoch
    try {
        const examples::ClassifierFigures r = examples::train_classifier(setup);
        examples::print_classifier(r);
        const auto pictures = examples::plot_classifier(r, out_dir);
        fmt::print("\npictures: {}, {}\n", pictures[0], pictures[1]);
    } catch (const std::exception& e) {
        fmt::print(stderr, "digits: {}\n", e.what());
        return 1;
    }
}
