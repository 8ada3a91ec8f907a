// The option checks every subcommand shares (apps/asdm/cli_util.h): their messages are what a user
// reads after a typo.
#include "apps/asdm/cli_util.h"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace asdm::cli {
namespace {

std::string check(const CLI::Validator& v, std::string text) { return v(text); }

TEST(CliUtil, OneOfQuotesEachNameAndNamesANearMiss) {
  const auto backend = one_of({"timer", "cuda-events", "cupti", "cuda-events,cupti"});
  EXPECT_EQ(backend.get_description(), "{timer|cuda-events|cupti|cuda-events,cupti}");
  EXPECT_EQ(check(backend, "cuda-events,cupti"), "");
  EXPECT_EQ(check(backend, "nvtx"),
            "'nvtx' is not one of 'timer', 'cuda-events', 'cupti', 'cuda-events,cupti'");
  EXPECT_EQ(check(backend, "cuda-event"),
            "'cuda-event' is not one of 'timer', 'cuda-events', 'cupti', 'cuda-events,cupti'; did "
            "you mean 'cuda-events'?");
  // Case matters, as in the files the names come from; a case slip is a near miss.
  EXPECT_NE(check(one_of({"fp16", "bf16"}), "FP16").find("did you mean 'fp16'"), std::string::npos);
}

}  // namespace
}  // namespace asdm::cli
