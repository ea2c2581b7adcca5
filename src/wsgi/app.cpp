#include "wsgi/app.hpp"

#include <pybind11/embed.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fmt/format.h>

#include "ferry_build_config.hpp"
#include "wsgi/app_impl.hpp"
#include "wsgi/input.hpp"

namespace py = pybind11;

namespace ferry::wsgi {
namespace {

namespace fs = std::filesystem;

void complain(const std::string& message) {
  const std::string line = "ferry: " + message + "\n";
  [[maybe_unused]] auto ignored = ::write(2, line.data(), line.size());
}

// A virtualenv is found the way `python` itself finds it: from its bin/python, next to
// which pyvenv.cfg names the base installation. This also makes packages installed only in
// the venv importable and honours include-system-site-packages.
std::optional<std::string> python_executable(const config::Config& config) {
  if (config.home.empty()) return std::string(FERRY_PYTHON_EXECUTABLE);
  const fs::path home(config.home);
  if (!fs::exists(home / "pyvenv.cfg") || !fs::exists(home / "bin" / "python")) {
    complain(
        fmt::format("home = {}: not a virtualenv (no pyvenv.cfg or bin/python there); create one "
                    "with: /usr/bin/python3 -m venv --system-site-packages {}",
                    config.home, config.home));
    return std::nullopt;
  }
  return (home / "bin" / "python").string();
}

bool start_interpreter(const std::string& executable) {
  PyConfig pyconfig;
  PyConfig_InitPythonConfig(&pyconfig);
  pyconfig.install_signal_handlers = 0;  // the worker owns its signals
  pyconfig.parse_argv = 0;
  PyStatus status = PyConfig_SetBytesString(&pyconfig, &pyconfig.executable, executable.c_str());
  if (!PyStatus_Exception(status)) {
    status = PyConfig_SetBytesString(&pyconfig, &pyconfig.program_name, executable.c_str());
  }
  if (!PyStatus_Exception(status)) {
    char* argv[] = {const_cast<char*>("ferry")};
    status = PyConfig_SetBytesArgv(&pyconfig, 1, argv);
  }
  if (!PyStatus_Exception(status)) status = Py_InitializeFromConfig(&pyconfig);
  PyConfig_Clear(&pyconfig);
  if (PyStatus_Exception(status)) {
    complain(
        fmt::format("cannot start Python ({}): {}", executable, status.err_msg ? status.err_msg : "unknown error"));
    return false;
  }
  return true;
}

// sys.path as uWSGI users expect it: the pythonpath entries, then the working directory
// (chdir), so `module = server_dev.wsgi` imports from the project directory.
void prepare_sys(const config::Config& config, const WorkerInfo& info) {
  py::module_ sys = py::module_::import("sys");
  py::list path = sys.attr("path");
  path.insert(0, fs::current_path().string());
  for (auto it = config.pythonpath.rbegin(); it != config.pythonpath.rend(); ++it) {
    path.insert(0, fs::absolute(*it).string());
  }
  // `import ferry`, last on the path so it never shadows one of the app's modules.
  // The source tree's copy when running from a build directory. A worker that dropped root
  // may be unable to read it (a checkout under /root): say so, rather than a bare
  // filesystem error.
  std::error_code unreadable;
  const bool in_tree = fs::exists(FERRY_PYTHON_DIR "/ferry", unreadable);
  if (unreadable) {
    throw std::runtime_error(fmt::format(
        "cannot read ferry's Python package {}/ferry as uid {} ({}): make the checkout readable by that user "
        "(uid =), or install ferry (meson install)",
        FERRY_PYTHON_DIR, ::geteuid(), unreadable.message()));
  }
  const char* ferry_dir = in_tree ? FERRY_PYTHON_DIR : FERRY_PYTHON_INSTALLED_DIR;
  path.append(ferry_dir);
  py::module_ ferry = py::module_::import("ferry");
  ferry.attr("version") = FERRY_VERSION;
  ferry.attr("worker_id") = info.id;
  // stdout is a pipe to the master: flush every line, so output is neither late nor lost
  // when the worker dies. (stderr is line-buffered already.)
  sys.attr("stdout").attr("reconfigure")(py::arg("line_buffering") = true);
}

py::object import_callable(const config::AppSpec& spec, int id) {
  const std::string name = spec.callable.empty() ? "application" : spec.callable;
  py::object holder;
  std::string where;
  if (!spec.wsgi_file.empty()) {
    py::module_ util = py::module_::import("importlib.util");
    const std::string path = fs::absolute(spec.wsgi_file).string();
    if (!fs::exists(path)) {
      throw std::runtime_error(fmt::format("wsgi-file {}: no such file (looked for {})", spec.wsgi_file, path));
    }
    const std::string module_name = fmt::format("__ferry_wsgi_file_{}__", id);
    py::object file_spec = util.attr("spec_from_file_location")(module_name, path);
    holder = util.attr("module_from_spec")(file_spec);
    py::module_::import("sys").attr("modules")[module_name.c_str()] = holder;
    file_spec.attr("loader").attr("exec_module")(holder);
    where = "wsgi-file " + spec.wsgi_file;
  } else {
    holder = py::module_::import(spec.module.c_str());
    where = "module " + spec.module;
  }
  if (!py::hasattr(holder, name.c_str())) {
    throw std::runtime_error(
        fmt::format("{} has no '{}'; name the WSGI callable with 'callable = NAME' or "
                    "'{}:NAME'",
                    where, name, spec.module.empty() ? spec.wsgi_file : spec.module));
  }
  py::object app = holder.attr(name.c_str());
  if (!PyCallable_Check(app.ptr())) {
    throw std::runtime_error(fmt::format("{}: '{}' is a {}, not a callable WSGI app", where, name,
                                         py::str(py::type::of(app).attr("__name__")).cast<std::string>()));
  }
  return app;
}

PyRef make_environ_template(const WorkerInfo& info, PyObject* file_wrapper) {
  py::dict env;
  env["wsgi.file_wrapper"] = py::reinterpret_borrow<py::object>(file_wrapper);
  env["wsgi.version"] = py::make_tuple(1, 0);
  env["wsgi.errors"] = py::module_::import("sys").attr("stderr");
  env["wsgi.multithread"] = py::bool_(info.multithread);
  env["wsgi.multiprocess"] = py::bool_(info.multiprocess);
  env["wsgi.run_once"] = py::bool_(false);
  // wsgi.input returns EOF at the end of the body on every listener, chunked uploads too.
  env["wsgi.input_terminated"] = py::bool_(true);
  env["SCRIPT_NAME"] = py::str("");
  env["ferry.version"] = py::str(FERRY_VERSION);
  env["ferry.worker_id"] = py::int_(info.id);
  return PyRef(env.release().ptr());
}

}  // namespace

App::App(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
App::~App() = default;

std::unique_ptr<App> App::load(const config::Config& config, const WorkerInfo& info, bool preload) {
  const auto executable = python_executable(config);
  if (!executable || !start_interpreter(*executable)) return nullptr;
  auto impl = std::make_unique<Impl>();
  impl->info = info;
  try {
    if (preload) py::module_::import("gc").attr("disable")();
    if (!init_input_type()) throw py::error_already_set();
    prepare_sys(config, info);
    impl->file_wrapper = PyRef(py::object(py::module_::import("ferry").attr("FileWrapper")).release().ptr());
    const auto specs = config.apps();
    for (std::size_t i = 0; i < specs.size(); ++i) {
      impl->apps.push_back({specs[i].mountpoint, PyRef(import_callable(specs[i], static_cast<int>(i)).release().ptr()),
                            PyRef(py::str(specs[i].mountpoint).release().ptr()), static_cast<int>(i)});
    }
    std::stable_sort(impl->apps.begin(), impl->apps.end(),
                     [](const auto& a, const auto& b) { return a.mountpoint.size() > b.mountpoint.size(); });
    impl->manage_script_name = config.manage_script_name;
    impl->post_buffering = config.post_buffering;
    impl->environ_template = make_environ_template(info, impl->file_wrapper.get());
  } catch (py::error_already_set& e) {
    complain(fmt::format("the app ({}) failed to load; the Python traceback follows:", config.app_description()));
    e.restore();
    PyErr_PrintEx(0);
    complain("fix the error above (or the module/chdir/pythonpath/home options) and start ferry again");
    return nullptr;
  } catch (const std::exception& e) {
    complain(fmt::format("the app failed to load: {}", e.what()));
    return nullptr;
  }
  return std::unique_ptr<App>(new App(std::move(impl)));
}

bool App::enable_stack_dumps(int signal) {
  try {
    py::module_::import("faulthandler")
        .attr("register")(signal, py::arg("file") = py::module_::import("sys").attr("stderr"),
                          py::arg("all_threads") = true);
    return true;
  } catch (py::error_already_set& e) {
    complain(fmt::format("cannot set up Python stack dumps for harakiri: {}", e.what()));
    return false;
  }
}

void App::begin_serving() { impl_->loader_parked.emplace(); }

std::unique_ptr<RequestHandler> App::make_handler() {
  // The first handler adopts the loading thread's state; later ones are for new threads.
  PyThreadState* thread = nullptr;
  if (impl_->loader_parked) {
    thread = impl_->loader_parked->hand_over();
    impl_->loader_parked.reset();
  } else {
    PyInterpreterState* interp = PyInterpreterState_Main();
    thread = PyThreadState_New(interp);
  }
  return make_request_handler(*impl_, thread);
}

void App::before_fork() {
  impl_->loader_parked.reset();  // the GIL, back on the loading thread
  // Everything alive now moves to the permanent generation: no collection in a worker
  // touches (and so copies) the pages the workers share with the master.
  PyRun_SimpleString("import gc; gc.freeze()");
  PyOS_BeforeFork();
}

void App::after_fork_parent() {
  PyOS_AfterFork_Parent();
  impl_->loader_parked.emplace();
}

void App::after_fork_child(const WorkerInfo& info) {
  PyOS_AfterFork_Child();  // first: it makes this thread the only Python thread
  impl_->info = info;
  PyRef id(PyLong_FromLong(info.id));
  PyDict_SetItemString(impl_->environ_template.get(), "ferry.worker_id", id.get());
  PyRef ferry(PyImport_ImportModule("ferry"));
  if (ferry) PyObject_SetAttrString(ferry.get(), "worker_id", id.get());
  PyRun_SimpleString("import gc; gc.enable()");
  PyErr_Clear();
}

void App::finish() {
  const GilHeld held;
  // What Py_Finalize would do that apps rely on, without waiting on their threads.
  PyRun_SimpleString(
      "import atexit, sys\n"
      "atexit._run_exitfuncs()\n"
      "for s in (sys.stdout, sys.stderr):\n"
      "    try:\n"
      "        s.flush()\n"
      "    except Exception:\n"
      "        pass\n");
  impl_->apps.clear();
  impl_->environ_template = PyRef();
  impl_->file_wrapper = PyRef();
}

}  // namespace ferry::wsgi
