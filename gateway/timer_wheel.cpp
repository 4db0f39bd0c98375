// The timer wheel's linking operations (see timer_wheel.hpp).
#include "gateway/timer_wheel.hpp"

namespace shoal::gateway {

timer_wheel::timer_wheel() noexcept {
  for (timer_node& head : slot_) head.prev = head.next = &head;
}

void timer_wheel::schedule(timer_node& node, std::uint64_t due) noexcept {
  cancel(node);
  if (due < now_) due = now_;
  node.due = due;
  timer_node& head = slot_[due & (slots - 1)];
  node.prev = &head;
  node.next = head.next;
  head.next->prev = &node;
  head.next = &node;
}

void timer_wheel::cancel(timer_node& node) noexcept {
  if (!node.linked()) return;
  node.prev->next = node.next;
  node.next->prev = node.prev;
  node.prev = node.next = nullptr;
}

}  // namespace shoal::gateway
