// concordctl: the command-line client of the marketing, sales and alignment services.
#include <iostream>

#include "tools/concordctl/ctl.h"

int main(int argc, char** argv) { return concord::ctl::Run(argc, argv, std::cout, std::cerr); }
