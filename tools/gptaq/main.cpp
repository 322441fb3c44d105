// gptaq: the command-line tool. Each subcommand lives in its own cmd_*.cpp and registers
// itself; this file only dispatches. Uses the public C API only.
#include <cstdio>
#include <cstring>
#include <string>

#include "cli.h"
#include "gptaq/gptaq.h"

namespace cli {

std::vector<Command> &registry() {
  static std::vector<Command> commands;
  return commands;
}

bool register_command(const Command &c) {
  registry().push_back(c);
  return true;
}

}  // namespace cli

static void usage(std::FILE *out) {
  std::fprintf(out,
               "gptaq %s - Hessian-based post-training weight quantization\n\n"
               "usage: gptaq <command> [options]   (gptaq <command> --help for its options)\n\n"
               "commands:\n",
               gptaq_version_string());
  for (const auto &c : cli::registry()) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
  std::fprintf(out, "  %-10s %s\n", "version", "print the library version and build info");
}

int main(int argc, char **argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  if (name == "version" || name == "--version") {
    std::printf("gptaq %s\n%s\n", gptaq_version_string(), gptaq_build_info());
    return 0;
  }
  for (const auto &c : cli::registry())
    if (name == c.name) return c.run(argc - 1, argv + 1);
  std::fprintf(stderr, "gptaq: error: unknown command '%s' (see gptaq --help)\n", name.c_str());
  return 2;
}
