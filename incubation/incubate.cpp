#include "incubation/incubate.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <fstream>
#include <optional>
#include <set>

#include <ATen/autocast_mode.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "core/artifact.h"
#include "core/dtype.h"
#include "core/error.h"
#include "core/log.h"
#include "core/run_files.h"
#include "core/sha256.h"
#include "core/unit_id.h"
#include "distributed/group.h"
#include "incubation/data.h"
#include "incubation/incubation_record.h"
#include "incubation/run_state.h"
#include "incubation/sas.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/module_io.h"
#include "model/noise_schedule.h"
#include "model/recompute.h"
#include "model/runtime.h"
#include "model/unet.h"
#include "profiler/peak_memory.h"
#include "proxy/pipeline.h"
#include "pruner/inheritance.h"
#include "pruner/schedule.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

struct Phase {
  std::string name;  // module block id, or "assembly"
  int steps = 0;
};

bool is_proxy(const fs::path& dir) { return fs::exists(dir / "proxy.json"); }

// The teacher's block that a student block id came from (drop_* edits move blocks).
std::string teacher_block(const ArchSpec& student, const std::string& id) {
  const std::string k = student.teacher_key(id + ".x");
  return k.substr(0, k.size() - 2);
}

void copy_prefixed(torch::nn::Module& dst, const torch::nn::Module& src,
                   const std::string& prefix) {
  torch::NoGradGuard ng;
  auto sp = src.named_parameters(true);
  for (auto& p : dst.named_parameters(true))
    if (p.key().rfind(prefix, 0) == 0) p.value().copy_(sp[p.key()]);
}

// A module phase's block inside `model`: the module named as its weights' keys begin.
torch::nn::Module& block_of(const UNet& model, const std::string& block) {
  const auto modules = model.module().named_modules();
  ASDM_CHECK(modules.contains(block), "the model has no module {}", block);
  return *modules[block];
}

void save_checkpoint(const fs::path& out, const CheckpointState& state, const UNet& student,
                     const UNet* phase_model, const std::string& phase_block,
                     torch::optim::AdamW* opt, const TensorMap* ema) {
  const fs::path tmp = out / "checkpoint.tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  write_tensors(tmp / "student.safetensors", module_tensors(student.module()));
  if (phase_model)
    write_tensors(tmp / "phase.safetensors",
                  module_tensors(block_of(*phase_model, phase_block), phase_block + "."));
  if (opt) torch::save(*opt, (tmp / "optimizer.pt").string());
  if (ema && !ema->empty()) write_tensors(tmp / "ema.safetensors", *ema);
  state.write(tmp / "state.json");
  replace_folder(tmp, out / "checkpoint");
}

// bfloat16 autocast on CUDA for the forwards and losses of one step (no loss scaling needed).
class Autocast {
 public:
  explicit Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
  }
  ~Autocast() {
    if (!on_) return;
    at::autocast::set_autocast_enabled(at::kCUDA, false);
    at::autocast::clear_cache();
  }

 private:
  bool on_;
};

// Peak tensor memory of one training step. On CUDA, the caching allocator's peak of allocated bytes
// (everything on the device: weights, optimizer state, activations; backward runs on autograd's
// device thread, which PeakMemory does not see); on the CPU, PeakMemory's peak of the bytes the
// step allocates (the CPU engine runs backward on the calling thread).
class StepPeak {
 public:
  explicit StepPeak(const std::string& device) : device_(device) {
    if (device_.is_cuda())
      c10::getDeviceAllocator(c10::kCUDA)->resetPeakStats(index());
    else
      cpu_.emplace();
  }
  int64_t peak_bytes() const {
    if (cpu_) return cpu_->peak_bytes();
    return c10::getDeviceAllocator(c10::kCUDA)
        ->getDeviceStats(index())
        .allocated_bytes[size_t(c10::CachingAllocator::StatType::AGGREGATE)]
        .peak;
  }

 private:
  c10::DeviceIndex index() const { return device_.has_index() ? device_.index() : 0; }
  c10::Device device_;
  std::optional<PeakMemory> cpu_;
};

// One incubation run, phase by phase: load (schedule, teacher and student specs), plan (resolved
// settings and phases, checked against the student), models (teacher, student, noise, data),
// resume (the checkpoint's position), then each phase, then write (the trained student and
// incubation.json).
class Run {
 public:
  Run(const fs::path& teacher, const fs::path& student, const fs::path& schedule,
      const fs::path& output, const IncubateOptions& options, bool resume_run,
      const std::function<void(const IncubateProgress&)>& on_step)
      : teacher_path(teacher),
        student_path(student),
        schedule_arg(schedule),
        out(output),
        o(options),
        resume(resume_run),
        progress(on_step) {}

  IncubateResult run() {
    load();
    plan();
    load_models();
    find_resume_point();
    log_path = out / "incubation.jsonl";
    if (group->leader()) {
      fs::create_directories(out);
      if (resume)
        truncate_json_lines(log_path, "global_step", start_global);
      else
        fs::remove(log_path);
      log_file.open(log_path, std::ios::app);
    }

    ab = torch::tensor(noise.alphas_cumprod, torch::kFloat64).to(torch::kFloat32);
    t0 = std::chrono::steady_clock::now();
    result.total_steps = total;
    global = start_global;
    for (size_t pi = start_phase; pi < phases.size(); ++pi)
      if (!run_phase(pi)) return result;  // stopped as if interrupted
    write();
    return result;
  }

 private:
  // ---- load ----
  void load() {
    schedule_path = schedule_arg.empty() ? student_path / "schedule.json" : schedule_arg;
    if (!fs::exists(schedule_path))
      fail("no schedule {} (asdm build writes one beside the student; or pass --schedule)",
           schedule_path.string());
    schedule = Schedule::read(schedule_path);
    tfiles = locate_model(teacher_path);
    sfiles = locate_model(student_path);
    require_weights(tfiles, fmt::format("the teacher {} has no weights", teacher_path.string()));
    require_weights(sfiles, fmt::format("the student {} has no weights", student_path.string()));
    if (sfiles.dir.empty())
      fail("the student {} is not a folder (asdm build writes students as folders)",
           student_path.string());
    tspec = load_arch(tfiles);
    sspec = load_arch(sfiles);
    // A student that is a stock diffusers config (BK-SDM presets: drop_* edits only) records how it
    // was made in the inheritance.json asdm build wrote beside it.
    if (sspec.edits.empty() && fs::exists(sfiles.dir / "inheritance.json")) {
      const ArchSpec built = Inheritance::read(sfiles.dir / "inheritance.json").arch;
      if (same_config(built.student_config(), sspec.teacher)) sspec = built;
    }
    if (!tspec.edits.empty())
      fail("the teacher {} is itself a student; incubate against the original teacher",
           teacher_path.string());
    if (!same_config(sspec.teacher, tspec.teacher))
      fail(
          "the student {} was not built from the teacher {} (the teacher config it records "
          "differs)",
          student_path.string(), teacher_path.string());
    tl = tspec.student_layout();
    sl = sspec.student_layout();
    removed = sspec.removed_units();
    unit_edits_only = true;
    for (const auto& e : sspec.edits)
      if (e.op != Edit::Op::kRemove && e.op != Edit::Op::kClme && e.op != Edit::Op::kGri)
        unit_edits_only = false;
  }

  // ---- plan: the schedule's settings unless overridden; the schedule must describe this student
  void plan() {
    const Schedule::Optimizer& sopt = schedule.optimizer;
    const Schedule::Loss& sloss = schedule.loss;
    batch = o.batch > 0 ? o.batch : sopt.batch;
    lr = o.lr > 0 ? o.lr : sopt.lr;
    weight_decay = sopt.weight_decay;
    clip = o.grad_clip > 0 ? o.grad_clip : sopt.grad_clip;
    lr_schedule = o.lr_schedule.empty() ? sopt.lr_schedule : o.lr_schedule;
    if (lr_schedule != "constant" && lr_schedule != "cosine")
      fail("lr schedule '{}' is not known (known: constant, cosine)", lr_schedule);
    w = {sloss.task, sloss.output, sloss.feature, sloss.semantic};
    for (const auto& [k, v] : o.weights) {
      if (k == "task")
        w.task = v;
      else if (k == "output")
        w.output = v;
      else if (k == "feature")
        w.feature = v;
      else if (k == "semantic")
        w.semantic = v;
      else
        fail("unknown loss weight '{}' (known: task, output, feature, semantic)", k);
    }

    // The schedule must describe this student.
    int schedule_total = 0;
    for (const auto& m : schedule.modules) {
      const std::string& name = m.name;
      bool block = tl.mid && tl.mid->id == name;
      for (const auto* list : {&tl.down, &tl.up})
        for (const auto& b : *list) block = block || b.id == name;
      if (!block)
        fail("schedule {} names module {}, which is not a block of the student",
             schedule_path.string(), name);
      for (const auto& u : m.removed_units)
        if (!removed.count(u))
          fail(
              "schedule {} names {} as removed, but the student {} has it (a schedule for another "
              "student?)",
              schedule_path.string(), u, student_path.string());
      phases.push_back({name, m.steps});
      schedule_total += phases.back().steps;
    }
    const int assembly_steps = schedule.assembly_steps;
    schedule_total += assembly_steps;
    feature_hooks = sloss.feature_hooks;
    semantic_hooks = sloss.semantic_hooks;
    for (const auto& h : semantic_hooks)
      if (!sl.find(h) || removed.count(h))
        fail(
            "schedule {} names {} as a semantic hook, but the student {} has no such attention "
            "unit",
            schedule_path.string(), h, student_path.string());
    if (!o.one_shot && !unit_edits_only)
      fail(
          "progressive incubation trains each module inside the teacher, which needs unit edits "
          "(remove, clme, gri); "
          "the student {} has drop_* edits: pass --one-shot",
          student_path.string());
    if (o.one_shot) phases.clear();
    phases.push_back({"assembly", o.one_shot ? schedule_total : assembly_steps});
    if (o.total_steps > 0) {
      const double f = double(o.total_steps) / schedule_total;
      int sum = 0;
      for (auto& p : phases) sum += p.steps = std::max(1, int(std::lround(p.steps * f)));
      phases.back().steps = std::max(1, phases.back().steps + o.total_steps - sum);
    }
    total = 0;
    for (const auto& p : phases) total += p.steps;
  }

  // ---- models and data ----
  void load_models() {
    if (o.amp && o.device.rfind("cuda", 0) != 0)
      fail("--amp (bfloat16 autocast) needs --device cuda");
    ensure_device(o.device);
    if (o.data.empty()) {
      if (!is_proxy(teacher_path))
        fail(
            "the teacher {} is not a proxy pipeline: give --data latents.safetensors (latents and "
            "text embeddings)",
            teacher_path.string());
      tpipe = proxy::ProxyPipeline::load(teacher_path);
      noise = tpipe->scheduler.schedule;
      prediction = tpipe->scheduler.prediction;
      data = proxy_data(*tpipe, o.seed, o.cond_drop);
      teacher = std::move(tpipe->unet);
    } else {
      teacher = load_unet(teacher_path);
      const fs::path sc = tfiles.dir.parent_path() / "scheduler" / "scheduler_config.json";
      if (!tfiles.single_file.empty() && tfiles.single_file_family == "SD 2.x")
        log::warn(
            "the teacher {} is an SD 2.x single file, which does not say its prediction type: "
            "training with epsilon prediction (SD 2.x base); a 768-v model needs its pipeline "
            "folder (`asdm convert`)",
            teacher_path.string());
      if (!tfiles.dir.empty() && fs::exists(sc)) {
        const SchedulerConfig c = read_scheduler_config(sc.string());
        noise = c.schedule;
        prediction = c.prediction;
      }
      data = latents_data(o.data, o.seed);
    }
    teacher->to(o.device, std::string(to_string(parse_dtype(o.teacher_dtype))));
    for (auto& p : teacher->module().parameters()) p.requires_grad_(false);
    teacher->module().eval();
    student = load_unet(student_path, {.device = o.device});

    opts.batch = batch;
    opts.lr = lr;
    opts.lr_schedule = lr_schedule;
    opts.grad_clip = clip;
    opts.weight_decay = weight_decay;
    opts.weights = {
        {"task", w.task}, {"output", w.output}, {"feature", w.feature}, {"semantic", w.semantic}};
    for (const auto& p : phases) opts.phases.emplace_back(p.name, p.steps);
    opts.total_steps = o.total_steps;
    opts.one_shot = o.one_shot;
    opts.ema = o.ema;
    opts.cond_drop = o.cond_drop;
    opts.data = o.data;
    opts.seed = o.seed;
    opts.amp = o.amp;
    opts.teacher_dtype = std::string(to_string(parse_dtype(o.teacher_dtype)));
    student_sha = sha256_file(sfiles.weights.front());
    join_ranks();
  }

  // ---- ranks: the same settings and student everywhere; each rank's slice of a batch ----
  void join_ranks() {
    if (!o.group) own_group = dist::Group::single();
    group = o.group ? o.group : own_group.get();
    group->check_same("the incubation settings", opts.to_json().dump(),
                      [](const std::string& leader, const std::string& other) {
                        return IncubationSettings::from_json(nlohmann::json::parse(other))
                            .first_difference(
                                IncubationSettings::from_json(nlohmann::json::parse(leader)),
                                "there", "on rank 0");
                      });
    group->check_same("the student's weights", student_sha,
                      [this](const std::string& leader, const std::string& other) {
                        return fmt::format("{} has SHA-256 {}… there but {}… on rank 0",
                                           sfiles.weights.front().string(), other.substr(0, 12),
                                           leader.substr(0, 12));
                      });
    if (o.accumulate < 1) fail("--accumulate must be at least 1, got {}", o.accumulate);
    const int split = group->world() * o.accumulate;
    if (batch % split != 0)
      fail(
          "the batch of {} does not split into {} rank(s) × {} micro-batch(es) (--accumulate); "
          "use a batch that is a multiple of {}",
          batch, group->world(), o.accumulate, split);
    per_rank = batch / group->world();
    micro = per_rank / o.accumulate;
    if (group->env().distributed() || o.accumulate > 1)
      log::info("{}: {} examples per step = {} rank(s) × {} micro-batch(es) of {}{}",
                group->env().distributed() ? group->env().describe() : "one process", batch,
                group->world(), o.accumulate, micro,
                group->backend().empty() ? "" : " (" + group->backend() + ")");
  }

  // ---- resume: where the checkpoint stopped, with the same settings and student ----
  void find_resume_point() {
    ckpt = out / "checkpoint";
    if (fs::exists(ckpt) && !resume)
      fail("{} holds an incubation run; pass --resume to continue it or choose another -o",
           out.string());
    if (resume) {
      if (!fs::exists(ckpt / "state.json"))
        fail("nothing to resume in {} (no checkpoint/state.json)", out.string());
      try {
        state = CheckpointState::read(ckpt / "state.json");
        start_global = state->global_step;
        start_phase = state->phase_index;
        start_step = state->phase_step;
      } catch (const std::exception& e) {
        fail("the checkpoint in {} is unreadable ({}); it was left as it is", ckpt.string(),
             e.what());
      }
      const std::string diff = opts.first_difference(state->options);
      if (!diff.empty()) fail("--resume with other settings than the checkpoint's: {}", diff);
      if (state->student_sha256 != student_sha)
        fail("--resume: the student {} is not the one this run started from",
             student_path.string());
      try {
        load_module_tensors(student->module(), read_tensors(ckpt / "student.safetensors"),
                            "checkpoint " + (ckpt / "student.safetensors").string());
      } catch (const std::exception& e) {
        fail("the checkpoint in {} is unreadable ({}); it was left as it is", ckpt.string(),
             e.what());
      }
      log::info("resuming {} at global step {} ({} step {})", out.string(), start_global,
                phases.at(start_phase).name, start_step);
    }
    // Every rank starts from rank 0's weights (loaded from the same files; this makes sure).
    group->broadcast(student->module().parameters(), "the student's starting weights");
  }

  // ---- one phase: a module inside the teacher, or the assembled student. False when stopped. ----
  bool run_phase(size_t pi) {
    const Phase& ph = phases[pi];
    const bool assembly = ph.name == "assembly";
    // The model this phase trains and the parameters it may change.
    std::unique_ptr<UNet> hybrid;
    UNet* model = student.get();
    std::string prefix;
    if (!assembly) {
      ArchSpec hs = tspec;
      for (const auto& e : sspec.edits)
        if (unit_id::is_under(e.unit, ph.name)) hs.edits.push_back(e);
      prefix = ph.name + ".";
      hybrid = std::make_unique<UNet>(hs);
      hybrid->to(o.device, "float32");
      // Outside its module the hybrid is the teacher (its edits are all inside) and is not trained:
      // it takes the teacher's tensors there, with no second copy and no read of the teacher's
      // files. A teacher held in another dtype (--teacher-dtype) cannot lend them: then the
      // hybrid's own float32 copy, from the files.
      if (!share_parameters(hybrid->module(), teacher->module(), prefix).empty()) {
        hybrid = std::make_unique<UNet>(hs);
        inherit_weights(*hybrid, tfiles);
        hybrid->to(o.device, "float32");
      }
      copy_prefixed(hybrid->module(), student->module(), prefix);
      model = hybrid.get();
    }
    std::vector<at::Tensor> params;
    for (auto& p : model->module().named_parameters(true)) {
      const bool train = assembly || p.key().rfind(prefix, 0) == 0;
      p.value().requires_grad_(train);
      if (train) params.push_back(p.value());
    }
    if (params.empty()) {
      log::info("{}: no trainable weights in the student (every unit removed); skipped", ph.name);
      global += ph.steps;
      return true;
    }
    model->module().train();
    torch::optim::AdamW opt(params, torch::optim::AdamWOptions(lr).weight_decay(weight_decay));
    TensorMap ema;
    const bool use_ema = assembly && o.ema > 0;
    int step0 = 0;
    if (state && pi == size_t(start_phase) && start_step > 0) {
      step0 = start_step;
      try {
        if (!assembly)
          load_module_tensors(block_of(*model, ph.name), read_tensors(ckpt / "phase.safetensors"),
                              "checkpoint phase weights", prefix);
        torch::load(opt, (ckpt / "optimizer.pt").string());
        if (use_ema) ema = read_tensors(ckpt / "ema.safetensors");
      } catch (const std::exception& e) {
        fail("the checkpoint in {} is unreadable ({}); it was left as it is", ckpt.string(),
             e.what());
      }
    }
    if (use_ema && ema.empty())
      for (const auto& p : model->module().named_parameters(true))
        ema[p.key()] = p.value().detach().clone();

    // Hooks: student id -> teacher id.
    std::map<std::string, std::string> fmap, smap;
    if (w.feature > 0)
      for (const auto& h : feature_hooks) fmap[h] = assembly ? teacher_block(sspec, h) : h;
    if (w.semantic > 0)
      for (const auto& h : semantic_hooks) smap[h] = assembly ? sspec.teacher_key(h) : h;
    auto keys = [](const std::map<std::string, std::string>& m, bool teacher_side) {
      std::vector<std::string> v;
      for (const auto& [a, b] : m) v.push_back(teacher_side ? b : a);
      return v;
    };
    SasCapture scap(keys(fmap, false), keys(smap, false), !smap.empty());
    SasCapture tcap(keys(fmap, true), keys(smap, true), !smap.empty());

    auto write_state = [&](int phase_index, int phase_step, bool with_phase) {
      if (!group->leader()) return;
      const CheckpointState st{global, phase_index, phase_step, total, student_sha, opts};
      save_checkpoint(out, st, *student, with_phase && !assembly ? model : nullptr, ph.name,
                      with_phase ? &opt : nullptr, with_phase && use_ema ? &ema : nullptr);
    };

    // Gradients are averaged over the ranks bucket by bucket while the last micro-batch's backward
    // runs.
    dist::Group::GradientReducer reducer(*group, params);
    for (int step = step0 + 1; step <= ph.steps; ++step) {
      ++global;
      const auto step_t0 = std::chrono::steady_clock::now();
      double cur_lr = lr;
      if (lr_schedule == "cosine")
        cur_lr = lr * 0.5 * (1 + std::cos(M_PI * (step - 1) / std::max(1, ph.steps)));
      for (auto& g : opt.param_groups())
        static_cast<torch::optim::AdamWOptions&>(g.options()).lr(cur_lr);

      opt.zero_grad();
      StepPeak peak(o.device);
      // This rank's rows of the global batch, in micro-batches; the gradients add up to those of
      // the mean loss over the rows.
      std::map<std::string, double> terms;
      for (int m = 0; m < o.accumulate; ++m) {
        const int first = group->rank() * per_rank + m * micro;
        const SasLosses l = micro_step(*model, global, first, fmap, smap, scap, tcap);
        if (m == o.accumulate - 1) reducer.arm();
        (l.total / o.accumulate).backward();
        for (const auto& [k, v] : l.terms) terms[k] += v / o.accumulate;
      }
      // Gradients (and the logged loss terms) averaged over the ranks: every rank then takes the
      // same optimizer step.
      reducer.finish(fmt::format("the gradients of global step {}", global));
      at::Tensor term_values = torch::empty({int64_t(terms.size())}, torch::kFloat64);
      {
        int64_t i = 0;
        for (const auto& [k, v] : terms) term_values[i++] = v;
      }
      group->all_reduce_mean({term_values}, fmt::format("the losses of global step {}", global));
      {
        int64_t i = 0;
        for (auto& [k, v] : terms) v = term_values[i++].item<double>();
      }
      if (!std::isfinite(terms.at("total")))
        fail("incubation diverged at global step {} ({} step {}: loss {}); lower --lr", global,
             ph.name, step, terms.at("total"));
      const double gnorm = torch::nn::utils::clip_grad_norm_(params, clip);
      opt.step();
      if (use_ema) {
        torch::NoGradGuard ng;
        for (const auto& p : model->module().named_parameters(true))
          ema[p.key()].mul_(o.ema).add_(p.value().detach(), 1 - o.ema);
      }
      const double step_seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - step_t0).count();

      IncubateProgress pr;
      pr.phase = ph.name;
      pr.phase_index = int(pi);
      pr.phases = int(phases.size());
      pr.step = step;
      pr.steps = ph.steps;
      pr.global = global;
      pr.total = total;
      pr.losses = terms;
      pr.lr = cur_lr;
      pr.grad_norm = gnorm;
      pr.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (group->leader()) {
        IncubationLogLine line;
        line.global_step = global;
        line.step = step;
        line.phase = ph.name;
        line.lr = cur_lr;
        line.grad_norm = gnorm;
        line.seconds = pr.seconds;
        line.samples_per_s = batch / std::max(step_seconds, 1e-9);
        line.peak_bytes = peak.peak_bytes();
        line.ranks = group->world();
        line.accumulate = o.accumulate;
        line.losses = terms;
        log_file << line.dump() << "\n";
        log_file.flush();
        if (progress) progress(pr);
      }

      const bool phase_end = step == ph.steps;
      if (phase_end) {
        // The phase's result goes into the student; the next phase starts from a checkpoint at its
        // step 0.
        if (!assembly) copy_prefixed(student->module(), model->module(), prefix);
        if (assembly && use_ema) load_module_tensors(student->module(), ema, "EMA weights");
        write_state(int(pi) + 1, 0, false);
      } else if (global % o.checkpoint_every == 0) {
        write_state(int(pi), step, true);
      }
      if (global == o.die_at) std::raise(SIGKILL);
      if (global ==
          o.stop_after) {  // as if interrupted: the last checkpoint is where a resume starts
        result.global_step = global;
        result.seconds = pr.seconds;
        return false;
      }
    }
    return true;
  }

  // ---- one micro-batch: rows [first, first + micro) of global step `global`'s batch, forward
  // through teacher and model, SAS losses (means over the rows). Each row's noise and timestep are
  // drawn from its own generator, a function of (seed, global step, row).
  SasLosses micro_step(UNet& model, int global_step, int first,
                       const std::map<std::string, std::string>& fmap,
                       const std::map<std::string, std::string>& smap, SasCapture& scap,
                       SasCapture& tcap) {
    const TrainBatch b = data->rows(uint64_t(global_step), batch, first, micro);
    const at::Tensor x0 = b.x0.to(o.device);
    std::vector<at::Tensor> eps_rows, t_rows;
    for (int i = first; i < first + micro; ++i) {
      auto gen = at::make_generator<at::CPUGeneratorImpl>(o.seed * 0x9e3779b97f4a7c15ull +
                                                          uint64_t(global_step) * 7919u +
                                                          uint64_t(i) * 0xbf58476d1ce4e5b9ull);
      eps_rows.push_back(torch::randn(b.x0.sizes().slice(1), gen, torch::kFloat32));
      t_rows.push_back(torch::randint(0, noise.train_steps(), {1}, gen, torch::kInt64));
    }
    const at::Tensor eps = torch::stack(eps_rows).to(o.device);
    const at::Tensor t = torch::cat(t_rows).to(o.device);
    const at::Tensor a = ab.to(o.device).index({t}).view({-1, 1, 1, 1});
    const at::Tensor xt = a.sqrt() * x0 + (1 - a).sqrt() * eps;
    const at::Tensor target =
        prediction == Prediction::kV ? a.sqrt() * eps - (1 - a).sqrt() * x0 : eps;
    const at::Tensor hidden = b.hidden.to(o.device);
    std::optional<at::Tensor> cl, te, ti;
    AddedConditions added;
    if (b.class_labels) added.class_labels = &cl.emplace(b.class_labels->to(o.device));
    if (b.text_embeds) added.text_embeds = &te.emplace(b.text_embeds->to(o.device));
    if (b.time_ids) added.time_ids = &ti.emplace(b.time_ids->to(o.device));

    tcap.clear();
    scap.clear();
    Autocast amp(o.amp);
    at::Tensor tout;
    {
      torch::NoGradGuard ng;
      tout = teacher->forward(xt, t, hidden, added, &tcap).to(torch::kFloat32);
    }
    RecomputeGuard recompute(o.recompute);
    const at::Tensor sout = model.forward(xt, t, hidden, added, &scap);
    return sas_losses(sout, tout, target, scap, tcap, w, fmap, smap);
  }

  // ---- write: the trained student and incubation.json ----
  void write() {
    result.global_step = global;
    result.complete = true;
    result.student = out;
    if (!group->leader()) {
      result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      return;
    }
    student->module().eval();
    fs::path unet_dir = out;
    if (is_proxy(student_path)) {
      copy_folder_except(student_path, out, {"unet", "schedule.json"});
      unet_dir = out / "unet";
    }
    student->to("cpu", "float32");
    save_unet(*student, unet_dir);
    result.global_step = global;
    result.complete = true;
    result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    result.student = out;
    IncubationRecord record;
    record.header = ArtifactHeader::make(IncubationRecord::kArtifact,
                                         IncubationRecord::kSchemaVersion, o.context);
    record.teacher = teacher_path.string();
    record.student = student_path.string();
    record.schedule = schedule_path.string();
    record.output = out.string();
    record.steps = result.total_steps;
    record.seconds = result.seconds;
    record.log = log_path.string();
    record.write(out / "incubation.json");
  }

  // Inputs.
  const fs::path teacher_path, student_path, schedule_arg, out;
  const IncubateOptions& o;
  const bool resume;
  const std::function<void(const IncubateProgress&)>& progress;
  fs::path schedule_path;
  Schedule schedule;
  ModelFiles tfiles, sfiles;
  ArchSpec tspec, sspec;
  UNetLayout tl, sl;
  std::set<std::string> removed;
  bool unit_edits_only = true;
  // Plan.
  int batch = 0, total = 0;
  double lr = 0, weight_decay = 0, clip = 0;
  std::string lr_schedule;
  SasWeights w;
  std::vector<Phase> phases;
  std::vector<std::string> feature_hooks, semantic_hooks;
  // Models and data.
  std::optional<proxy::ProxyPipeline> tpipe;
  std::unique_ptr<UNet> teacher, student;
  NoiseSchedule noise = NoiseSchedule::make();
  Prediction prediction = Prediction::kEpsilon;
  std::unique_ptr<DataSource> data;
  IncubationSettings opts;
  std::string student_sha;
  // Ranks: this process's share of each global batch.
  std::unique_ptr<dist::Group> own_group;
  dist::Group* group = nullptr;
  int per_rank = 0, micro = 0;
  // Resume point and progress.
  fs::path ckpt;
  int start_global = 0, start_phase = 0, start_step = 0;
  std::optional<CheckpointState> state;
  fs::path log_path;
  std::ofstream log_file;
  at::Tensor ab;
  std::chrono::steady_clock::time_point t0;
  IncubateResult result;
  int global = 0;
};

}  // namespace

IncubateResult incubate(const fs::path& teacher_path, const fs::path& student_path,
                        const fs::path& schedule, const fs::path& out, const IncubateOptions& o,
                        bool resume, const std::function<void(const IncubateProgress&)>& progress) {
  return Run(teacher_path, student_path, schedule, out, o, resume, progress).run();
}

}  // namespace asdm
