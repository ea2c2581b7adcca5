#pragma once

// A StatsSnapshot as Prometheus text (exposition format 0.0.4), the body of GET /metrics.
// Pure: no I/O, no clock; the same snapshot always renders the same text, so unit tests
// and `promtool check metrics` can check every line.
//
// Naming follows Prometheus's conventions: a `ferry_` prefix, base units in the name
// (`_seconds`, `_bytes`), `_total` on every counter, HELP and TYPE once per family.
// Counters come from LifetimeCounts, which a worker's respawn never resets, so `rate()`
// sees a reset only when the master itself restarts.
//
// The request-duration histogram and the responses by status class are aggregated over
// the workers rather than labelled by worker: latency is a property of the service (which
// of N identical processes served a request is chance), PromQL's histogram_quantile needs
// `sum by (le)` anyway, and per-worker buckets would multiply the series by the number of
// workers. Counts that tell workers apart (requests, exceptions, harakiri, bytes sent,
// memory) keep a `worker` label.

#include <string>
#include <string_view>

#include "master/stats_snapshot.hpp"

namespace ferry::master {

// The Content-Type /metrics is served with.
inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

std::string prometheus_text(const StatsSnapshot& snapshot);

// A label value as the text format needs it: backslash, double quote and newline escaped.
std::string escape_label_value(std::string_view value);

}  // namespace ferry::master
