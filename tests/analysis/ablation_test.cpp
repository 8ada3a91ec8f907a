// The ablation runner: ground truth (a zeroed branch scores exactly 0; a scaled-up branch rises),
// determinism, resume after an interruption, shards merged into the one-run file, groups, and the
// errors a user meets.
#include "analysis/ablation.h"

#include <algorithm>
#include <fstream>
#include <tuple>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "analysis/subject.h"
#include "core/artifact.h"
#include "model/checkpoint.h"
#include "model/tensor_io.h"
#include "profiler/profile_io.h"
#include "tests/analysis/fixtures.h"

namespace asdm {
namespace {

// GroupScorer scores other models on the teacher's inputs: the teacher itself is exactly 0, GRI
// equal to full attention is 0, real GRI is not, and bypassing the GRI unit removes its effect.
TEST(GroupScorer, ScoresVariantsOfTheTeacher) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("group_scorer_variants");
  const AblationSubject s = load_proxy_subject(f.pipeline, f.prompts);
  const GroupScorer scorer(s, test::small_options());
  EXPECT_EQ(scorer.score(s), 0.0);
  EXPECT_EQ(scorer.score(std::vector<std::string>{}), 0.0);
  const std::string unit = "down_blocks.0.attentions.0";
  EXPECT_LT(scorer.score(s.with_edits({Edit::gri(unit, 8, 0)})), 1e-9);
  const AblationSubject gri = s.with_edits({Edit::gri(unit, 4, 2)});
  EXPECT_GT(scorer.score(gri), 1e-9);
  EXPECT_NEAR(scorer.score(gri, {unit}), scorer.score({unit}), 1e-12);
  // The subject's own scores replay the teacher's prefix: the numbers of plain forwards.
  AblationOptions plain_options = test::small_options();
  plain_options.prefix_chunk = 1;
  const GroupScorer plain(s, plain_options);
  for (const std::vector<std::string>& g : {std::vector<std::string>{unit},
                                            {"up_blocks.2.resnets.1"},
                                            {"mid_block.resnets.0", "down_blocks.1.resnets.0"}})
    EXPECT_EQ(scorer.score(g), plain.score(g)) << g[0];
}

namespace fs = std::filesystem;

RunContext context() {
  RunContext c;
  c.argv = {"test"};
  return c;
}

std::vector<std::string> ranking(const nlohmann::json& doc, const std::string& tier) {
  return doc.at("ranking").at(tier).get<std::vector<std::string>>();
}

size_t rank_of(const std::vector<std::string>& r, const std::string& id) {
  return std::find(r.begin(), r.end(), id) - r.begin();
}

const nlohmann::json& result(const nlohmann::json& doc, const std::string& id) {
  for (const auto& r : doc.at("results"))
    if (r.at("id") == id) return r;
  ADD_FAILURE() << "no result for " << id;
  static nlohmann::json none;
  return none;
}

TEST(Ablation, AZeroedBranchScoresExactlyZeroAndRanksLast) {
  torch::set_num_threads(1);
  const std::string res = "down_blocks.1.resnets.0", attn = "up_blocks.2.attentions.1";
  const auto f = test::make_proxy_fixture("ablation_zero", [&](UNet& u) {
    test::scale_parameters(u,
                           {res + ".conv2.weight", res + ".conv2.bias", attn + ".proj_out.weight",
                            attn + ".proj_out.bias"},
                           0.0);
  });
  AblationOptions o = test::small_options();
  o.tier = "both";
  const auto doc = run_ablation(load_proxy_subject(f.pipeline, f.prompts), o, context(),
                                f.dir / "imp.json", false)
                       .to_json();
  EXPECT_TRUE(doc.at("complete"));
  for (const auto& id : {res, attn}) {
    const auto& r = result(doc, id);
    EXPECT_EQ(r.at("tier1").at("nmse").at("mean").get<double>(), 0.0) << id;
    EXPECT_EQ(r.at("tier1").at("nmse").at("ci95"), nlohmann::json::array({0.0, 0.0})) << id;
    EXPECT_EQ(r.at("tier2").at("ssim_loss").at("mean").get<double>(), 0.0) << id;
    EXPECT_EQ(r.at("tier2").at("psnr_db").at("mean").get<double>(), 100.0) << id;
  }
  // Every other unit moves the output; the two zeroed ones rank last.
  const auto r1 = ranking(doc, "tier1");
  ASSERT_EQ(r1.size(), 38u);
  EXPECT_EQ(std::set<std::string>(r1.end() - 2, r1.end()), (std::set<std::string>{res, attn}));
  EXPECT_GT(result(doc, r1[r1.size() - 3]).at("tier1").at("nmse").at("mean").get<double>(), 0.0);
  EXPECT_EQ(doc.at("results").size(), 38u);
  EXPECT_EQ(doc.at("rank_correlation").at("tier1_vs_tier2").at("n"), 38);
}

TEST(Ablation, ScalingABranchUpRaisesItsRank) {
  torch::set_num_threads(1);
  AblationOptions o = test::small_options();
  const auto base = test::make_proxy_fixture("ablation_scale_base");
  const auto before = run_ablation(load_proxy_subject(base.pipeline, base.prompts), o, context(),
                                   base.dir / "imp.json", false)
                          .to_json();
  // The median-ranked ResBlock, its branch (conv2) scaled by 4.
  const auto r0 = ranking(before, "tier1");
  std::vector<std::string> resblocks;
  for (const auto& id : r0)
    if (id.find(".resnets.") != std::string::npos) resblocks.push_back(id);
  const std::string unit = resblocks[resblocks.size() / 2];
  const auto scaled = test::make_proxy_fixture("ablation_scale_up", [&](UNet& u) {
    test::scale_parameters(u, {unit + ".conv2.weight", unit + ".conv2.bias"}, 4.0);
  });
  const auto after = run_ablation(load_proxy_subject(scaled.pipeline, scaled.prompts), o, context(),
                                  scaled.dir / "imp.json", false)
                         .to_json();
  EXPECT_LT(rank_of(ranking(after, "tier1"), unit), rank_of(r0, unit)) << unit;
  EXPECT_GT(result(after, unit).at("tier1").at("nmse").at("mean").get<double>(),
            result(before, unit).at("tier1").at("nmse").at("mean").get<double>());
}

TEST(Ablation, SameSeedSameFile) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("ablation_determinism");
  AblationOptions o = test::small_options();
  o.units = {"down_blocks.0.resnets.0", "mid_block.attentions.0", "up_blocks.3.resnets.2"};
  o.tier = "both";
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  run_ablation(s, o, context(), f.dir / "a.json", false);
  run_ablation(s, o, context(), f.dir / "b.json", false);
  EXPECT_EQ(test::without_run_details(read_json_file(f.dir / "a.json")),
            test::without_run_details(read_json_file(f.dir / "b.json")));
  o.seed = 1;
  run_ablation(s, o, context(), f.dir / "c.json", false);
  EXPECT_NE(test::without_run_details(read_json_file(f.dir / "a.json")).at("results"),
            test::without_run_details(read_json_file(f.dir / "c.json")).at("results"));
}

// Tier 1 scored in chunks, replaying the teacher's forward up to each unit, writes the file of
// units scored one at a time: every score, interval and per-prompt value equal.
TEST(Ablation, ChunksReplayingTheTeachersPrefixGiveTheOneByOneFile) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("ablation_prefix_chunks");
  AblationOptions o = test::small_options();
  o.units = {"down_blocks.0.resnets.0", "down_blocks.1.attentions.1", "mid_block.attentions.0",
             "mid_block.resnets.1",     "up_blocks.1.resnets.2",      "up_blocks.3.attentions.0"};
  o.groups = {{"up_blocks.1.resnets.2", "down_blocks.1.attentions.1"}};
  o.sampler.guidance = 3.0;  // the guidance batch is one forward too
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  o.prefix_chunk = 1;
  const auto one = run_ablation(s, o, context(), f.dir / "one.json", false).to_json();
  o.prefix_chunk = 4;  // chunks of 4 and 3
  std::vector<std::string> order;
  const auto chunked =
      run_ablation(s, o, context(), f.dir / "chunked.json", false, [&](const AblationProgress& p) {
        if (!p.id.empty()) order.push_back(p.id);
      }).to_json();
  EXPECT_EQ(test::without_run_details(chunked), test::without_run_details(one));
  EXPECT_EQ(order.size(), 7u);  // every unit reported, one by one
  EXPECT_GT(result(one, "mid_block.attentions.0").at("tier1").at("nmse").at("mean").get<double>(),
            0);
}

TEST(Ablation, ResumeAfterAnInterruptionGivesTheSameFile) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("ablation_resume");
  AblationOptions o = test::small_options();
  o.tier = "both";
  o.top = 3;
  o.units = {"down_blocks.0.resnets.0", "down_blocks.1.attentions.0", "mid_block.resnets.1",
             "up_blocks.1.resnets.2", "up_blocks.3.attentions.0"};
  o.groups = {{"down_blocks.0.resnets.0", "up_blocks.3.attentions.0"}};
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const auto whole = run_ablation(s, o, context(), f.dir / "whole.json", false).to_json();
  // Interrupted after 4 items (the progress callback throws, as a kill would stop it).
  struct Stop {};
  const fs::path out = f.dir / "resumed.json";
  EXPECT_THROW(run_ablation(s, o, context(), out, false,
                            [](const AblationProgress& p) {
                              if (p.done == 4) throw Stop{};
                            }),
               Stop);
  const auto partial = read_json_file(out);
  EXPECT_FALSE(partial.at("complete"));
  EXPECT_EQ(partial.at("results").size(), 4u);
  // Not overwritten without --resume.
  EXPECT_EQ(test::error_of([&] { run_ablation(s, o, context(), out, false); }),
            out.string() +
                " holds the partial results of an unfinished run; continue it with --resume, or "
                "remove the file");
  // Other settings are refused, with the difference named.
  AblationOptions other = o;
  other.sampler.steps = 5;
  EXPECT_EQ(test::error_of([&] { run_ablation(s, other, context(), out, true); })
                .rfind("cannot resume from " + out.string() +
                           ": it was made with other settings (sampler: ",
                       0),
            0u);
  // Paths differ between machines: a partial file made from another folder still resumes.
  auto moved = read_json_file(out);
  moved["settings"]["subject"] =
      "proxy pipeline /elsewhere/pipeline (test world) with 6 prompts from /elsewhere/p.txt";
  write_json_atomic(out, moved);
  int first_done = -1;
  run_ablation(s, o, context(), out, true, [&](const AblationProgress& p) {
    if (first_done < 0 && p.tier != "teacher") first_done = p.done;
    EXPECT_EQ(p.resumed, 4);
  });
  EXPECT_EQ(first_done, 5);
  EXPECT_EQ(test::without_run_details(read_json_file(out)), test::without_run_details(whole));
  // Tier 2 ran on the top 3 units by tier 1, and on the group.
  int tier2 = 0;
  for (const auto& r : whole.at("results")) tier2 += r.contains("tier2");
  EXPECT_EQ(tier2, 4);
  const auto r1 = ranking(whole, "tier1");
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(result(whole, r1[k]).contains("tier2")) << r1[k];
  // The group has its interaction with the sum of its units.
  const auto& g = result(whole, "down_blocks.0.resnets.0+up_blocks.3.attentions.0");
  EXPECT_EQ(g.at("kind"), "group");
  EXPECT_TRUE(g.contains("/interaction/tier1_nmse/group_minus_sum"_json_pointer));
}

TEST(Ablation, CorruptPartialFileIsLeftAlone) {
  const auto f = test::make_proxy_fixture("ablation_corrupt");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const fs::path out = f.dir / "imp.json";
  const std::string junk = "{\"artifact\": \"importance\", \"results\": [";
  std::ofstream(out) << junk;
  const std::string e =
      test::error_of([&] { run_ablation(s, test::small_options(), context(), out, true); });
  EXPECT_EQ(e.rfind("cannot resume from " + out.string() + ": ", 0), 0u) << e;
  EXPECT_NE(e.find("the file was left as it is (move it away to start over)"), std::string::npos)
      << e;
  EXPECT_EQ(read_text_file(out), junk);
  std::ofstream(out) << R"({"artifact": "profile"})";
  EXPECT_EQ(test::error_of([&] { run_ablation(s, test::small_options(), context(), out, true); }),
            "cannot resume from " + out.string() +
                ": it is not an importance.json of asdm ablate; the file was left as it is");
}

TEST(Ablation, ShardsMergeIntoTheOneRunFile) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("ablation_shards");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  AblationOptions o = test::small_options();
  o.units = {"down_blocks.0.resnets.0", "down_blocks.0.attentions.0", "down_blocks.2.resnets.1",
             "mid_block.attentions.0",  "up_blocks.0.resnets.1",      "up_blocks.3.attentions.2",
             "up_blocks.3.resnets.2"};
  o.groups = {{"mid_block.attentions.0", "up_blocks.0.resnets.1"}};
  const auto one = run_ablation(s, o, context(), f.dir / "one.json", false).to_json();
  std::vector<fs::path> shards;
  for (int i = 0; i < 3; ++i) {
    AblationOptions so = o;
    so.shard_index = i;
    so.shard_count = 3;
    shards.push_back(f.dir / fmt::format("shard{}.json", i));
    const auto d = run_ablation(s, so, context(), shards.back(), false).to_json();
    EXPECT_EQ(d.at("results").size(), i < 2 ? 3u : 2u);  // 8 entries, round robin
  }
  // Given in any order.
  const auto merged = merge_importance({shards[2], shards[0], shards[1]}, context()).to_json();
  EXPECT_EQ(test::without_run_details(merged), test::without_run_details(one));
  EXPECT_EQ(test::error_of([&] {
              merge_importance({shards[0], shards[2]}, context());
            }),
            "shards missing: 1/3");
  EXPECT_EQ(test::error_of([&] {
              merge_importance({shards[0], shards[0], shards[1], shards[2]}, context());
            }),
            shards[0].string() + " and " + shards[0].string() + " are both shard 0/3");
  auto other = read_json_file(shards[1]);
  other["settings"]["seed"] = 5;
  write_json_atomic(f.dir / "other.json", other);
  EXPECT_EQ(test::error_of([&] {
              merge_importance({shards[0], f.dir / "other.json", shards[2]}, context());
            }),
            shards[0].string() + " and " + (f.dir / "other.json").string() +
                " come from runs with other settings (seed: 0 vs 5)");
  EXPECT_EQ(
      test::error_of([&] {
        merge_importance({shards[0], f.dir / "one.json"}, context());
      }),
      (f.dir / "one.json").string() + " is one of 1 shards, " + shards[0].string() + " one of 3");
}

TEST(Ablation, BadOptionsAreRefusedBeforeAnyWork) {
  const auto f = test::make_proxy_fixture("ablation_bad");
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  const fs::path out = f.dir / "imp.json";
  auto error = [&](const std::function<void(AblationOptions&)>& edit) {
    AblationOptions o = test::small_options();
    edit(o);
    return test::error_of([&] { run_ablation(s, o, context(), out, false); });
  };
  const std::string unknown = error([](auto& o) { o.units = {"down_blocks.9.resnets.0"}; });
  EXPECT_EQ(unknown.rfind("unit 'down_blocks.9.resnets.0' not found; known: ", 0), 0u) << unknown;
  EXPECT_NE(unknown.find("down_blocks.0.resnets.0"), std::string::npos) << unknown;
  EXPECT_EQ(
      error([](auto& o) { o.units = {"conv_in"}; })
          .rfind(
              "unit 'conv_in' (fixed) cannot be bypassed; removable units: down_blocks.0.resnets.0",
              0),
      0u);
  EXPECT_EQ(error([](auto& o) {
              o.groups = {{"mid_block.resnets.0", "up_blocks.0.upsamplers.0"}};
            }).rfind("unit 'up_blocks.0.upsamplers.0' (upsample) cannot be bypassed", 0),
            0u);
  EXPECT_EQ(error([](auto& o) { o.timesteps = 9; }),
            "timesteps must be in 1..4 (the sampler steps; got 9)");
  EXPECT_EQ(error([](auto& o) { o.tier = "3"; }), "tier must be 1, 2 or both (got '3')");
  EXPECT_EQ(error([](auto& o) { o.top = 2; }),
            "top selects units for tier 2; it needs tier 2 or both");
  EXPECT_EQ(error([](auto& o) {
              o.top = 2;
              o.tier = "both";
              o.shard_count = 2;
            }),
            "top with shards needs the merged tier-1 scores of all units (rank-from): a shard sees "
            "only its own units");
  EXPECT_EQ(error([](auto& o) { o.shard_index = 2, o.shard_count = 2; }),
            "shard 2/2 is not valid: i/n with 0 <= i < n");
  EXPECT_EQ(error([](auto& o) { o.sampler.sampler = "plms"; }),
            "unknown sampler 'plms' (known: ddim, euler, dpm++2m, pndm)");
  EXPECT_FALSE(fs::exists(out));
}

TEST(Ablation, WithACachePlanTheRunsSampleWithIt) {
  torch::set_num_threads(1);
  const std::string zero = "down_blocks.1.resnets.0", live = "mid_block.resnets.0";
  const auto f = test::make_proxy_fixture("ablation_cache_plan", [&](UNet& u) {
    test::scale_parameters(u, {zero + ".conv2.weight", zero + ".conv2.bias"}, 0.0);
  });
  const auto s = load_proxy_subject(f.pipeline, f.prompts);
  AblationOptions o = test::small_options();
  o.tier = "both";
  o.units = {zero, "up_blocks.2.resnets.1"};
  const ImportanceArtifact plain = run_ablation(s, o, context(), f.dir / "plain.json", false);
  o.cache_plan = CachePlan::uniform(s.unet().spec(), {live, zero}, 2, 4);
  o.cache_plan_path = "plan.json";
  const ImportanceArtifact cached = run_ablation(s, o, context(), f.dir / "cached.json", false);
  EXPECT_EQ(cached.settings.cache_plan, "plan.json");
  // The teacher's run reused the live unit: other samples.
  EXPECT_NE(cached.teacher.fingerprint, plain.teacher.fingerprint);
  // The zeroed unit still scores exactly 0 in both tiers: tier 1 compares plain forwards, tier 2
  // samples with the plan like the teacher.
  for (const auto& r : cached.results)
    if (r.id == zero) {
      EXPECT_EQ(r.tier1->nmse.mean, 0.0);
      EXPECT_EQ(r.tier2->ssim_loss.mean, 0.0);
    } else {
      EXPECT_GT(r.tier2->ssim_loss.mean, 0.0);
    }
  // A plan for another number of sampler calls is refused before any work.
  o.cache_plan = CachePlan::uniform(s.unet().spec(), {live}, 2, 5);
  EXPECT_EQ(test::error_of([&] { run_ablation(s, o, context(), f.dir / "x.json", false); }),
            "the cache plan covers 5 model calls, this sampler makes 4 (steps and sampler must "
            "match the plan's)");
}

TEST(Ablation, ProfileGivesLatencySavedAndImportancePerMs) {
  torch::set_num_threads(1);
  const auto f = test::make_proxy_fixture("ablation_profile");
  // A profile.json written through the struct asdm profile writes it with.
  ProfileArtifact profile;
  profile.header = ArtifactHeader::make(ProfileArtifact::kArtifact, ProfileArtifact::kSchemaVersion,
                                        test::run_context({}, "test"));
  profile.report.backend = "timer";
  profile.report.unobserved_ms.median = 20.0;
  for (const auto& [id, kind, ms] :
       {std::tuple{"down_blocks.0.resnets.0", UnitKind::kResBlock, 2.0},
        std::tuple{"down_blocks.0.attentions.0", UnitKind::kAttention, 4.0}}) {
    UnitProfile u;
    u.id = id;
    u.kind = kind;
    u.inclusive_ms.median = u.exclusive_ms.median = ms;
    profile.report.units.push_back(u);
  }
  profile.write(f.dir / "profile.json");
  AblationOptions o = test::small_options();
  o.profile = read_profile_latency(f.dir / "profile.json");
  o.units = {"down_blocks.0.resnets.0", "down_blocks.0.attentions.0"};
  o.groups = {o.units};
  const auto doc = run_ablation(load_proxy_subject(f.pipeline, f.prompts), o, context(),
                                f.dir / "imp.json", false)
                       .to_json();
  const auto& r = result(doc, "down_blocks.0.attentions.0");
  EXPECT_EQ(r.at("latency_saved_ms"), 4.0);
  EXPECT_DOUBLE_EQ(r.at("tier1_per_ms").get<double>(),
                   r.at("tier1").at("nmse").at("mean").get<double>() / 4.0);
  EXPECT_EQ(
      result(doc, "down_blocks.0.resnets.0+down_blocks.0.attentions.0").at("latency_saved_ms"),
      6.0);
  EXPECT_EQ(ranking(doc, "tier1_per_ms").size(), 2u);
  o.units = {"mid_block.resnets.0"};
  o.groups.clear();
  EXPECT_EQ(test::error_of([&] {
              run_ablation(load_proxy_subject(f.pipeline, f.prompts), o, context(),
                           f.dir / "x.json", false);
            }),
            (f.dir / "profile.json").string() +
                " has no times for mid_block.resnets.0 (is it a profile of this model?)");
}

TEST(Ablation, EmbeddingsNeedNegativesForGuidance) {
  torch::set_num_threads(1);
  const fs::path dir = test::scratch_dir("ablation_embeddings");
  auto unet = load_unet(test::config_path("tiny"), {.allow_random_weights = true});
  save_unet(*unet, dir / "unet");
  torch::manual_seed(2);
  write_tensors(dir / "emb.safetensors", {{"encoder_hidden_states", torch::randn({2, 5, 32})}});
  const auto s = load_embeddings_subject(dir / "unet", dir / "emb.safetensors");
  AblationOptions o = test::small_options();
  o.sampler.guidance = 7.5;
  EXPECT_EQ(test::error_of([&] { run_ablation(s, o, context(), dir / "imp.json", false); }),
            "guidance 7.5 needs unconditional inputs, and the embeddings have no "
            "negative_encoder_hidden_states (add "
            "them, or use guidance 1)");
  o.sampler.guidance = 1.0;
  o.units = {"down_blocks.0.resnets.0", "up_blocks.1.attentions.2"};
  o.tier = "both";
  const auto doc = run_ablation(s, o, context(), dir / "imp.json", false).to_json();
  for (const auto& r : doc.at("results")) {
    EXPECT_GT(r.at("tier1").at("nmse").at("mean").get<double>(), 0.0);
    EXPECT_LE(r.at("tier2").at("ssim").at("mean").get<double>(), 1.0);
    EXPECT_FALSE(r.at("tier2").contains("quality"));
  }
}

}  // namespace
}  // namespace asdm
