// Which URL each connection of a run goes to (issue 15: several gateway nodes). Every connection
// takes the --url list; pub/sub publishers and subscribers take --publish-url / --subscribe-url
// when given. Within a list, round robin by the connection's index in its role over the whole run
// (all threads, all processes), so N connections over K URLs give each URL N/K or N/K + 1.
// Built and resolved by the main thread before the workers start; read-only after that.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "loadgen/url.hpp"

namespace shoal::loadgen {

struct url_plan {
  std::vector<ws_target> any;          // --url: every connection not covered below
  std::vector<ws_target> publishers;   // --publish-url, or empty: publishers use `any`
  std::vector<ws_target> subscribers;  // --subscribe-url, or empty: subscribers use `any`

  // Connection i of a scenario without roles (echo, connect).
  const ws_target& connection(std::uint64_t i) const noexcept { return any[i % any.size()]; }
  // Publisher p (0-based among the run's publishers).
  const ws_target& publisher(std::uint64_t p) const noexcept {
    const auto& list = publishers.empty() ? any : publishers;
    return list[p % list.size()];
  }
  // Subscriber s (0-based among the run's subscribers).
  const ws_target& subscriber(std::uint64_t s) const noexcept {
    const auto& list = subscribers.empty() ? any : subscribers;
    return list[s % list.size()];
  }

  template <class Fn>
  void for_each(Fn fn) {
    for (auto* list : {&any, &publishers, &subscribers})
      for (ws_target& t : *list) fn(t);
  }
};

// Parses and resolves every URL of the three lists. On the first bad one returns nullopt with
// `error` naming its flag and the URL ("--subscribe-url ws://x:y/ws: bad host or port in URL").
std::optional<url_plan> resolve_url_plan(const std::vector<std::string>& urls,
                                         const std::vector<std::string>& publish_urls,
                                         const std::vector<std::string>& subscribe_urls,
                                         std::string& error);

// The distinct URLs of `lists`, in order of first appearance: what a report lists as the run's.
std::vector<std::string> distinct_urls(std::initializer_list<const std::vector<std::string>*> lists);

}  // namespace shoal::loadgen
