// Resolution of the URL lists of url_plan.hpp. Main thread, before the run.
#include "loadgen/url_plan.hpp"

#include <algorithm>

namespace shoal::loadgen {

std::optional<url_plan> resolve_url_plan(const std::vector<std::string>& urls,
                                         const std::vector<std::string>& publish_urls,
                                         const std::vector<std::string>& subscribe_urls,
                                         std::string& error) {
  url_plan plan;
  const struct {
    const char* flag;
    const std::vector<std::string>* in;
    std::vector<ws_target>* out;
  } lists[] = {{"--url", &urls, &plan.any},
               {"--publish-url", &publish_urls, &plan.publishers},
               {"--subscribe-url", &subscribe_urls, &plan.subscribers}};
  for (const auto& l : lists) {
    for (const std::string& url : *l.in) {
      std::string why;
      auto target = parse_ws_url(url, why);
      if (!target) {
        error = std::string(l.flag) + " " + url + ": " + why;
        return std::nullopt;
      }
      l.out->push_back(std::move(*target));
    }
  }
  return plan;
}

std::vector<std::string> distinct_urls(std::initializer_list<const std::vector<std::string>*> lists) {
  std::vector<std::string> out;
  for (const auto* list : lists)
    for (const std::string& url : *list)
      if (std::find(out.begin(), out.end(), url) == out.end()) out.push_back(url);
  return out;
}

}  // namespace shoal::loadgen
