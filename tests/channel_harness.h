// Runs one email channel the way nudged does: built by make_channel from a policy
// file, a real io_context on the test thread and a real worker pool, so send()
// must post its result back to the loop. Test thread only.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>

#include "core/policy.h"
#include "daemon/channel.h"
#include "helpers.h"

namespace test {

struct SendResult {
  nudge::Outcome outcome;
  std::string error;
};

inline const char* outcome_name(nudge::Outcome o) {
  switch (o) {
    case nudge::Outcome::kSent: return "sent";
    case nudge::Outcome::kTransient: return "transient";
    case nudge::Outcome::kPermanent: return "permanent";
    case nudge::Outcome::kCancelled: return "cancelled";
  }
  return "?";
}

class ChannelHarness {
 public:
  // `channel` is the YAML mapping of a channel named "email", e.g.
  // {type: smtp, url: "smtp://127.0.0.1:2525", from: "Shop <shop@example.com>"}.
  ChannelHarness(const std::string& dir, const std::string& channel) {
    std::string yaml = "version: 1\nstore: nudge.db\naudit_log: audit.jsonl\n"
                       "campaigns:\n  - name: default\n    match: {}\n    steps:\n"
                       "      - {name: first, after: 0s, channel: email, template: t}\n"
                       "channels:\n  email: " + channel + "\n"
                       "templates:\n  t:\n    en: {subject: \"s\", body: \"b\"}\n";
    write_file(dir + "/policy.yaml", yaml);
    auto r = nudge::load_policy(dir + "/policy.yaml");
    for (const auto& e : r.errors) MESSAGE(e.to_string());
    REQUIRE(r.ok());
    policy_ = r.policy;
    nudge::ChannelContext ctx{io_, workers_, *policy_, ""};
    channel_ = nudge::make_channel(policy_->channels.at("email"), ctx, build_error_);
  }
  ~ChannelHarness() { workers_.join(); }

  nudge::Channel* channel() { return channel_.get(); }
  const std::string& build_error() const { return build_error_; }

  // Sends one job and runs the loop until `done` is called (at most `limit`).
  SendResult send(const nudge::SendJob& job, std::chrono::milliseconds limit = std::chrono::seconds(20)) {
    REQUIRE(channel_);
    std::optional<SendResult> result;
    std::thread::id done_thread;
    channel_->send(job, [&](nudge::Outcome o, std::string e) {
      done_thread = std::this_thread::get_id();
      result = SendResult{o, std::move(e)};
    });
    auto guard = boost::asio::make_work_guard(io_);
    auto end = std::chrono::steady_clock::now() + limit;
    io_.restart();
    while (!result && std::chrono::steady_clock::now() < end) io_.run_one_for(std::chrono::milliseconds(50));
    REQUIRE_MESSAGE(result.has_value(), "the channel did not call done within the limit");
    if (std::getenv("NUDGE_TEST_VERBOSE")) MESSAGE(std::string(outcome_name(result->outcome)) << ": " << result->error);
    CHECK(done_thread == std::this_thread::get_id());  // done runs on the loop thread
    return *result;
  }

 private:
  boost::asio::io_context io_;
  boost::asio::thread_pool workers_{2};
  std::shared_ptr<const nudge::Policy> policy_;
  std::unique_ptr<nudge::Channel> channel_;
  std::string build_error_;
};

inline nudge::SendJob email_job(const std::string& email, const std::string& name, const std::string& subject,
                                const std::string& body, const std::string& key) {
  nudge::SendJob j;
  j.send_id = 1;
  j.shop = "s1";
  j.buyer_id = "b1";
  j.buyer_name = name;
  j.buyer_email = email;
  j.order_ids = {"8001"};
  j.step = "first";
  j.channel = "email";
  j.tmpl = "t";
  j.lang = "en";
  j.idempotency_key = key;
  j.subject = subject;
  j.body = body;
  return j;
}

}  // namespace test
