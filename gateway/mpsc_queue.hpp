// An intrusive multi-producer, single-consumer FIFO (Dmitry Vyukov's algorithm): producers on
// any thread push with one atomic exchange and never wait; the one consumer pops. The cluster
// link uses it to hand events from the NATS client's threads to a shard without a lock.
// Node must have a member `std::atomic<Node*> next`. The queue never owns the nodes; whoever
// pops one owns it. push() is wait-free; pop() may return null while a push is half done (the
// producer was pre-empted between its two steps); empty() is then false, so a consumer that
// checks empty() before sleeping polls again instead of missing the node.
#pragma once

#include <atomic>

namespace shoal::gateway {

template <class Node>
class mpsc_queue {
 public:
  mpsc_queue() noexcept : head_(&stub_), tail_(&stub_) { stub_.next.store(nullptr, std::memory_order_relaxed); }
  mpsc_queue(const mpsc_queue&) = delete;
  mpsc_queue& operator=(const mpsc_queue&) = delete;

  // Any thread. seq_cst, so a consumer that announced sleep and then checks empty() either sees
  // the node or is seen asleep by the producer's later check (see mailbox.hpp).
  void push(Node* n) noexcept {
    n->next.store(nullptr, std::memory_order_relaxed);
    Node* prev = head_.exchange(n, std::memory_order_seq_cst);
    prev->next.store(n, std::memory_order_release);
  }

  // The consumer's thread only.
  Node* pop() noexcept {
    Node* tail = tail_;
    Node* next = tail->next.load(std::memory_order_acquire);
    if (tail == &stub_) {
      if (!next) return nullptr;
      tail_ = next;
      tail = next;
      next = next->next.load(std::memory_order_acquire);
    }
    if (next) {
      tail_ = next;
      return tail;
    }
    if (tail != head_.load(std::memory_order_acquire)) return nullptr;  // a push is half done
    push(&stub_);
    next = tail->next.load(std::memory_order_acquire);
    if (next) {
      tail_ = next;
      return tail;
    }
    return nullptr;
  }

  // The consumer's thread: false when a node is queued or being pushed.
  bool empty() const noexcept {
    return tail_ == &stub_ && head_.load(std::memory_order_seq_cst) == &stub_;
  }

 private:
  alignas(64) std::atomic<Node*> head_;  // producers
  alignas(64) Node* tail_;               // consumer
  Node stub_;
};

}  // namespace shoal::gateway
