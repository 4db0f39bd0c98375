// A shard's shared codecs: connections that agreed the same settings without context takeover
// share one compressor, whose bytes, compressed once per broadcast, every one of their clients
// inflates; a shared inflater serves several clients' whole messages in any interleaving.
#include "core/deflate_pool.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/permessage_deflate.hpp"

namespace shoal::core {
namespace {

using bytes = std::vector<std::uint8_t>;

deflate_params agree(const std::string& offer, const deflate_policy& policy) {
  std::vector<extension_offer> offers;
  EXPECT_EQ(parse_extension_offers(offer, offers), extension_error::none);
  const deflate_agreement a = negotiate_deflate(offers, policy);
  EXPECT_TRUE(a.accepted) << offer;
  return a.params;
}

TEST(DeflatePool, BroadcastCompressedOnceForEverySubscriber) {
  deflate_policy policy;
  policy.enabled = true;  // server_no_context_takeover for everyone
  const std::string offers[] = {"permessage-deflate; client_max_window_bits",
                                "permessage-deflate",
                                "permessage-deflate; server_no_context_takeover",
                                "permessage-deflate; server_max_window_bits=10"};
  deflate_pool pool;
  std::vector<deflater*> compressors;
  std::vector<std::unique_ptr<inflater>> clients;
  for (const std::string& offer : offers) {
    const deflate_params params = agree(offer, policy);
    compressors.push_back(&pool.compressor(server_deflater_settings(params, policy)));
    clients.push_back(std::make_unique<inflater>(client_inflater_settings(params)));
  }
  // The first three agreed the same settings: one compressor. The 10-bit window needs its own.
  EXPECT_EQ(compressors[0], compressors[1]);
  EXPECT_EQ(compressors[0], compressors[2]);
  EXPECT_NE(compressors[0], compressors[3]);
  for (int seq = 1; seq <= 20; ++seq) {
    const std::string json = R"({"op":"msg","topic":"prices.btc","seq":)" + std::to_string(seq) +
                             R"(,"data":{"bid":)" + std::to_string(1000 + seq * 7) + "}}";
    const bytes message(json.begin(), json.end());
    bytes shared(deflater::max_compressed_size(message.size()));
    shared.resize(compressors[0]->compress(message, shared).value());
    bytes narrow(deflater::max_compressed_size(message.size()));
    narrow.resize(compressors[3]->compress(message, narrow).value());
    for (std::size_t c = 0; c < clients.size(); ++c) {
      bytes out;
      ASSERT_EQ(clients[c]->feed(c == 3 ? narrow : shared, true, out, 1 << 16),
                inflate_status::done);
      EXPECT_EQ(out, message);
    }
  }
  EXPECT_GT(pool.memory_bytes(), 0u);
}

TEST(DeflatePool, SharedInflaterServesInterleavedClients) {
  deflate_policy policy;
  policy.enabled = true;
  policy.client_context_takeover = false;  // every client resets: one shard inflater
  const deflate_params params = agree("permessage-deflate; client_max_window_bits", policy);
  ASSERT_TRUE(params.client_no_context_takeover);
  deflate_pool pool;
  inflater& shared = pool.decompressor(server_inflater_settings(params));
  EXPECT_EQ(&shared, &pool.decompressor(server_inflater_settings(params)));
  deflater a(client_deflater_settings(params));
  deflater b(client_deflater_settings(params));
  for (int k = 0; k < 10; ++k) {
    for (deflater* client : {&a, &b}) {
      const std::string s = "message " + std::to_string(k) + " from " + (client == &a ? "a" : "b");
      const bytes message(s.begin(), s.end());
      bytes wire(deflater::max_compressed_size(message.size()));
      wire.resize(client->compress(message, wire).value());
      bytes out;
      ASSERT_EQ(shared.feed(wire, true, out, 1024), inflate_status::done);
      EXPECT_EQ(out, message);
    }
  }
}

}  // namespace
}  // namespace shoal::core
