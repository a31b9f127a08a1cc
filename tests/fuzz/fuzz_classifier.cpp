// Fuzzes the SQL classifier: any text gets a verdict, and text that ends inside a quote or
// comment is never called read.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "pgsteer/protocol/classifier.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace pgsteer::protocol;
  static const function_policy policy;
  const std::string_view sql(reinterpret_cast<const char*>(data), size);
  const auto c = classify(sql, policy);
  // Appending a delete statement can never make a verdict "read".
  std::string with_write(sql);
  with_write += "\n;delete from t";
  if (classify(with_write, policy).kind == sql_kind::read) __builtin_trap();
  (void)c;
  return 0;
}
