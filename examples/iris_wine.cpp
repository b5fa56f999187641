// Example 7: iris and wine, each in a few lines with the trainer; then the
// test accuracy over ten stratified splits, since one small test part says
// little.
#include "examples/classify_report.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

int main(int argc, char** argv) {
    CLI::App app("Iris and wine: small tensor MLPs trained with the Trainer");
    std::string data_dir = std::string(TAPEGRAD_EXAMPLES_DIR) + "/data";
    std::string out_dir = TAPEGRAD_EXAMPLES_OUT;
    std::size_t splits = 10;
    app.add_option("--data", data_dir, "directory holding iris.csv and wine_data.csv");
    app.add_option("--out", out_dir, "directory for the pictures");
    app.add_option("--splits", splits, "how many stratified splits to average over")->check(CLI::PositiveNumber);
    CLI11_PARSE(app, argc, argv);

    try {
        for (const examples::ClassifierSetup& setup :
             {examples::iris_setup(data_dir), examples::wine_setup(data_dir)}) {
            const examples::ClassifierFigures r = examples::train_classifier(setup);
            examples::print_classifier(r, /*every_epoch=*/false);
            const auto pictures = examples::plot_classifier(r, out_dir);
            fmt::print("pictures: {}, {}\n\n", pictures[0], pictures[1]);
            examples::print_repeated_splits(setup.name, examples::repeated_splits(setup, splits));
            fmt::print("\n");
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "iris_wine: {}\n", e.what());
        return 1;
    }
}
