// Prints prometheus_text(sample_snapshot()): the integration tests feed it to promtool and
// check the Grafana dashboard's expressions against the metric names it emits.

#include <cstdio>

#include "master/metrics.hpp"
#include "sample_snapshot.hpp"

int main() {
  const auto text = ferry::master::prometheus_text(ferry::test::sample_snapshot());
  std::fwrite(text.data(), 1, text.size(), stdout);
  return 0;
}
