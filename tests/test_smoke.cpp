#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <vector>

#include "gptaq/gptaq.h"

TEST_CASE("version matches the header") {
  CHECK(gptaq_version_number() == GPTAQ_VERSION_NUMBER);
}
