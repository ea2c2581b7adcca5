#include "master/stats_json.hpp"

#include "common/json_writer.hpp"

namespace ferry::master {
namespace {

// uWSGI's flags are numbers.
std::uint64_t flag(bool value) { return value ? 1 : 0; }

void write_socket(JsonWriter& out, const SocketSnapshot& socket) {
  out.begin_object();
  out.string("name", socket.name);
  out.string("proto", socket.proto);
  out.number("queue", socket.queue);
  out.number("max_queue", socket.max_queue);
  out.number("shared", flag(socket.shared));
  out.number("can_offload", flag(socket.can_offload));
  out.end_object();
}

void write_app(JsonWriter& out, const AppSnapshot& app) {
  out.begin_object();
  out.signed_number("id", app.id);
  out.signed_number("modifier1", app.modifier1);
  out.string("mountpoint", app.mountpoint);
  out.signed_number("startup_time", app.startup_time);
  out.number("requests", app.requests);
  out.number("exceptions", app.exceptions);
  out.string("chdir", app.chdir);
  out.end_object();
}

void write_core(JsonWriter& out, const CoreSnapshot& core) {
  out.begin_object();
  out.signed_number("id", core.id);
  out.number("requests", core.requests);
  out.number("static_requests", core.static_requests);
  out.number("routed_requests", core.routed_requests);
  out.number("offloaded_requests", core.offloaded_requests);
  out.number("write_errors", core.write_errors);
  out.number("read_errors", core.read_errors);
  out.number("in_request", flag(core.in_request));
  // uWSGI lists the request's vars as "KEY=VALUE" strings; ferry keeps the three that say
  // which request it is (the rest never leave the worker).
  out.begin_array("vars");
  if (core.in_request) {
    out.string({}, "REQUEST_METHOD=" + core.current.method);
    out.string({}, "REQUEST_URI=" + core.current.uri);
    out.string({}, "REMOTE_ADDR=" + core.current.remote_addr);
  }
  out.end_array();
  out.begin_object("req_info");
  if (core.in_request) out.signed_number("request_start", core.current.started_at);
  out.end_object();
  out.begin_object("request");
  if (core.in_request) {
    out.string("method", core.current.method);
    out.string("uri", core.current.uri);
    out.string("remote_addr", core.current.remote_addr);
    out.real("seconds", core.current.seconds);
  }
  out.end_object();
  out.end_object();
}

void write_worker(JsonWriter& out, const WorkerSnapshot& worker) {
  out.begin_object();
  out.signed_number("id", worker.id);
  out.signed_number("pid", worker.pid);
  out.number("accepting", flag(worker.accepting));
  out.number("requests", worker.requests);
  out.number("delta_requests", worker.delta_requests);
  out.number("exceptions", worker.exceptions);
  out.number("harakiri_count", worker.harakiri_count);
  out.number("signals", worker.signals);
  out.number("signal_queue", worker.signal_queue);
  out.string("status", worker.status);
  out.number("rss", worker.rss);
  out.number("vsz", worker.vsz);
  out.number("running_time", worker.running_time);
  out.signed_number("last_spawn", worker.last_spawn);
  out.number("respawn_count", worker.respawn_count);
  out.number("tx", worker.tx);
  out.number("avg_rt", worker.avg_rt);
  out.begin_array("apps");
  for (const auto& app : worker.apps) write_app(out, app);
  out.end_array();
  out.begin_array("cores");
  for (const auto& core : worker.cores) write_core(out, core);
  out.end_array();
  out.end_object();
}

}  // namespace

const char* phase_name(StatsSnapshot::Phase phase) {
  switch (phase) {
    case StatsSnapshot::Phase::starting: return "starting";
    case StatsSnapshot::Phase::serving: return "serving";
    case StatsSnapshot::Phase::reloading: return "reloading";
    case StatsSnapshot::Phase::stopping: return "stopping";
  }
  return "unknown";
}

std::string stats_json(const StatsSnapshot& stats, bool minified) {
  JsonWriter out(minified);
  out.begin_object();
  out.string("version", stats.version);
  out.number("listen_queue", stats.listen_queue);
  out.number("listen_queue_errors", stats.listen_queue_errors);
  out.number("signal_queue", stats.signal_queue);
  out.number("load", stats.load);
  out.signed_number("pid", stats.pid);
  out.number("uid", stats.uid);
  out.number("gid", stats.gid);
  out.string("cwd", stats.cwd);
  out.begin_array("sockets");
  for (const auto& socket : stats.sockets) write_socket(out, socket);
  out.end_array();
  out.begin_array("workers");
  for (const auto& worker : stats.workers) write_worker(out, worker);
  out.end_array();
  out.begin_object("ferry");
  out.string("phase", phase_name(stats.phase));
  out.signed_number("configured_workers", stats.configured_workers);
  out.number("respawns_total", stats.respawns_total);
  out.signed_number("started_at", stats.started_at);
  out.end_object();
  out.end_object();
  return out.take();
}

}  // namespace ferry::master
