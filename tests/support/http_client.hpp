// A minimal blocking HTTP client for integration tests of pgsteer's HTTP endpoints and of
// the Prometheus API: one request per connection, the whole answer read until the server closes.
#pragma once

#include <string>

namespace pgsteer::test {

struct http_response {
  int status = 0;  // 0: no answer (connection refused, timeout, garbage)
  std::string headers;
  std::string body;
};

// Sends `request_line_and_headers` as given (it must end with an empty line) and reads the
// answer, for tests of malformed requests.
http_response http_raw(int port, const std::string& request);
// GET http://127.0.0.1:port/target (target may carry a query string).
http_response http_get(int port, const std::string& target);

// Percent-encodes a query parameter value.
std::string url_encode(const std::string& value);

}  // namespace pgsteer::test
