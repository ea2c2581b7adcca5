#include "master/stats_probes.hpp"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fmt/format.h>

#include "common/unique_fd.hpp"

namespace ferry::master {
namespace {

std::optional<ListenQueue> tcp_queue(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) return std::nullopt;
  return ListenQueue{info.tcpi_unacked, info.tcpi_sacked};
}

// One sock_diag request for the Unix socket with inode `inode`: its receive queue, which
// for a listening socket is the connections waiting to be accepted, and its backlog.
std::optional<ListenQueue> unix_queue(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return std::nullopt;
  UniqueFd diag(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!diag) return std::nullopt;
  struct {
    nlmsghdr header;
    unix_diag_req request;
  } message{};
  message.header.nlmsg_len = sizeof message;
  message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  message.header.nlmsg_flags = NLM_F_REQUEST;
  message.request.sdiag_family = AF_UNIX;
  message.request.udiag_states = ~0U;
  message.request.udiag_ino = static_cast<__u32>(st.st_ino);
  message.request.udiag_show = UDIAG_SHOW_RQLEN;
  message.request.udiag_cookie[0] = message.request.udiag_cookie[1] = ~0U;  // no cookie: by inode
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(diag.get(), &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    return std::nullopt;
  }
  alignas(nlmsghdr) char buffer[1024];
  const ssize_t n = ::recv(diag.get(), buffer, sizeof buffer, 0);
  if (n <= 0) return std::nullopt;
  auto* header = reinterpret_cast<nlmsghdr*>(buffer);
  if (!NLMSG_OK(header, static_cast<unsigned>(n)) || header->nlmsg_type != SOCK_DIAG_BY_FAMILY) return std::nullopt;
  auto* reply = static_cast<unix_diag_msg*>(NLMSG_DATA(header));
  auto* attribute = reinterpret_cast<rtattr*>(reply + 1);
  int left = static_cast<int>(header->nlmsg_len - NLMSG_LENGTH(sizeof *reply));
  for (; RTA_OK(attribute, left); attribute = RTA_NEXT(attribute, left)) {
    if (attribute->rta_type != UNIX_DIAG_RQLEN) continue;
    unix_diag_rqlen lengths{};
    std::memcpy(&lengths, RTA_DATA(attribute), sizeof lengths);
    return ListenQueue{lengths.udiag_rqueue, lengths.udiag_wqueue};
  }
  return std::nullopt;
}

}  // namespace

std::optional<Memory> process_memory(pid_t pid) {
  std::FILE* file = std::fopen(fmt::format("/proc/{}/statm", pid).c_str(), "re");
  if (file == nullptr) return std::nullopt;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(file, "%llu %llu", &size, &resident);
  std::fclose(file);
  if (got != 2) return std::nullopt;
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return Memory{resident * page, size * page};
}

std::optional<ListenQueue> listen_queue(const Listener& listener) {
  return listener.is_unix ? unix_queue(listener.fd.get()) : tcp_queue(listener.fd.get());
}

}  // namespace ferry::master
