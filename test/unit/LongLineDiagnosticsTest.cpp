//===- LongLineDiagnosticsTest.cpp - When ckpt-opt parses a file up front -===//

#include "ckpt/Tools/LongLineDiagnostics.h"

#include <gtest/gtest.h>
#include <string>

using namespace ckpt;

namespace {

std::string longLine(const std::string &head) {
  return head + std::string(kLongLine + 1 - head.size(), 'a');
}

TEST(LongLineDiagnosticsTest, ALongLineAboveTheFirstOpNeedsTheEarlyParse) {
  // The whole text on one line, as a module header of garbage.
  EXPECT_TRUE(hasLongLineBeforeDialects(longLine("module { ")));
  // A long module header above the function.
  EXPECT_TRUE(hasLongLineBeforeDialects(longLine("module attributes {x = ") +
                                        "\nfunc.func @f() {\n}\n"));
  // Short lines only.
  EXPECT_FALSE(hasLongLineBeforeDialects("module {\nfunc.func @f() {\n}\n}\n"));
}

TEST(LongLineDiagnosticsTest, LongLinesFromTheFirstOpOnAreParsedOnce) {
  // A printed step: a short module header, then a long signature; parsing
  // its first op loads the func dialect and with it the printer.
  std::string step = "module attributes {xf.model = 1} {\n" +
                     longLine("  func.func @train_step(") + "\n" +
                     longLine("    return ") + "\n  }\n}\n";
  // (Its signature line is long: 2 spaces of indent, then kLongLine + 1.)
  size_t line = step.find('\n') + 1;
  EXPECT_GT(step.find('\n', line) - line, kLongLine);
  EXPECT_FALSE(hasLongLineBeforeDialects(step));
  // The generic form and an xf op open a dialect too.
  EXPECT_FALSE(hasLongLineBeforeDialects(longLine("\"func.func\"() (")));
  EXPECT_FALSE(hasLongLineBeforeDialects(longLine("xf.gelu ")));
  // An op of another dialect does not load ours: a long line below it
  // still needs the early parse.
  EXPECT_FALSE(hasLongLineBeforeDialects("arith.constant 1 : i32\n" +
                                         longLine("func.call ")));
  EXPECT_TRUE(hasLongLineBeforeDialects("arith.constant 1 : i32\n" +
                                        longLine("arith.addi ")));
}

} // namespace
