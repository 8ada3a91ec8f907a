#include "pruner/build_student.h"

#include <algorithm>

#include "analysis/importance_io.h"
#include "core/artifact.h"
#include "core/error.h"
#include "core/run_files.h"
#include "model/checkpoint.h"
#include "model/model_files.h"
#include "model/unet.h"
#include "profiler/cost_model.h"
#include "pruner/candidates.h"
#include "pruner/presets.h"
#include "pruner/replacements.h"

namespace asdm {
namespace {

namespace fs = std::filesystem;

// ---- plan: the student's ArchSpec and name ----
ArchSpec spec_from_candidate(const BuildOptions& o, const CandidateSet& set,
                             const ArchSpec& teacher, std::string* name) {
  const CandidateEntry& chosen = set.pick(o.pick, o.candidates);
  *name = chosen.name;
  const ArchSpec& spec = chosen.arch;
  if (!same_config(spec.teacher, teacher.teacher) || spec.edits.size() < teacher.edits.size() ||
      !std::equal(teacher.edits.begin(), teacher.edits.end(), spec.edits.begin()))
    fail("{} was searched on another teacher than {} (its configs differ)", o.candidates,
         o.teacher);
  return spec;
}

// An ArchSpec file written by hand or by another tool: its teacher config must be the teacher's.
ArchSpec spec_from_file(const std::string& path, const ArchSpec& teacher,
                        const std::string& teacher_path) {
  ArchSpec spec = read_arch_spec(path);
  if (!same_config(spec.teacher, teacher.teacher) || spec.edits.size() < teacher.edits.size() ||
      !std::equal(teacher.edits.begin(), teacher.edits.end(), spec.edits.begin()))
    fail("{} was made for another teacher than {} (its teacher_config differs)", path,
         teacher_path);
  spec.student_config();  // validates the structural edits, naming the first that does not fit
  spec.removed_units();
  spec.gri_units();
  spec.clme_units();
  return spec;
}

void add_clme(ArchSpec& spec, std::string& name) {
  if (!spec.clme_units().empty())
    fail("candidate {} already has CLME-CondConv edits; drop --clme", name);
  const auto edits = clme_edits(spec);
  if (edits.empty())
    fail("--clme: {} removes no ResBlock that has a surviving sibling to inherit its kernels",
         name);
  spec.edits.insert(spec.edits.end(), edits.begin(), edits.end());
  name += "+clme";
}

// The removed units' importance, when candidates.json names an importance.json that is there.
std::map<std::string, double> candidate_scores(const CandidateSet* set) {
  if (!set || set->importance.file.empty() || !fs::exists(set->importance.file)) return {};
  return read_importance_scores(set->importance.file,
                                set->importance.metric.empty() ? "tier1" : set->importance.metric)
      .units;
}

// ---- the inheritance table of the built student ----
Inheritance inheritance_of(const BuildOptions& o, const Student& s, const UNet& student,
                           const ArchSpec& teacher, const RunContext& context) {
  Inheritance inh;
  inh.header = ArtifactHeader::make(Inheritance::kArtifact, Inheritance::kSchemaVersion, context);
  inh.teacher = o.teacher;
  inh.student = s.name;
  inh.source = !o.preset.empty() ? "BK-SDM preset " + o.preset
               : !o.arch.empty() ? o.arch
                                 : o.candidates;
  inh.arch = s.spec;
  inh.diffusers_expressible = s.spec.diffusers_expressible();
  for (const auto& t : inheritance_table(student)) {
    int64_t n = 1;
    for (auto d : t.shape) n *= d;
    inh.tensors.push_back(
        {t.student_key, t.teacher_key, t.teacher_key.empty() ? "zeros" : "", t.shape});
    (t.teacher_key.empty() ? inh.new_params : inh.inherited_params) += n;
  }
  inh.teacher_params = estimate_cost(teacher, InputShape{}).params;
  inh.student_params = student.num_parameters();
  return inh;
}

}  // namespace

Student build_student(const BuildOptions& o, const RunContext& context) {
  // ---- load ----
  if (int(!o.candidates.empty()) + int(!o.preset.empty()) + int(!o.arch.empty()) != 1)
    fail("give one of --candidates (with --pick), --preset or --arch");
  const ModelFiles files = locate_model(o.teacher);
  require_weights(files, fmt::format("the teacher {} has no weights to inherit", o.teacher));
  const ArchSpec teacher = load_arch(files);
  std::optional<CandidateSet> set;
  if (!o.candidates.empty()) set = CandidateSet::read(o.candidates);

  // ---- plan ----
  Student s;
  if (!o.preset.empty()) {
    if (!teacher.edits.empty())
      fail("BK-SDM presets start from a stock teacher; {} is itself a student", o.teacher);
    s.spec = bk_sdm_preset(teacher.teacher, o.preset);
    s.name = "bk-sdm-" + o.preset;
  } else if (!o.arch.empty()) {
    s.spec = spec_from_file(o.arch, teacher, o.teacher);
    s.name = fs::path(o.arch).stem().string();
  } else {
    s.spec = spec_from_candidate(o, *set, teacher, &s.name);
  }
  if (o.clme) add_clme(s.spec, s.name);
  std::error_code ec;
  if (fs::exists(o.output) &&
      (fs::equivalent(o.output, o.teacher, ec) || fs::equivalent(o.output, files.dir, ec)))
    fail("the output folder {} is the teacher's; give another -o", o.output);

  // ---- build: weights; a pipeline teacher gives a pipeline student (every component but the
  // UNet and training leftovers copied) ----
  UNet student(s.spec);
  inherit_weights(student, files);
  s.dir = o.output;
  s.unet_dir = s.dir;
  const fs::path root = o.teacher;
  if (fs::exists(root / "model_index.json") && files.dir == root / "unet") {
    copy_folder_except(root, s.dir, {"unet", "checkpoint", "train.jsonl"});
    s.unet_dir = s.dir / "unet";
  }
  save_unet(student, s.unet_dir, o.dtype);

  // ---- write: inheritance.json and schedule.json ----
  s.inheritance = inheritance_of(o, s, student, teacher, context);
  s.inheritance.write(s.unet_dir / "inheritance.json");
  s.schedule = make_schedule(s.spec, candidate_scores(set ? &*set : nullptr), o.schedule);
  s.schedule.header = ArtifactHeader::make(Schedule::kArtifact, Schedule::kSchemaVersion, context);
  s.schedule.student = s.dir.string();
  s.schedule.teacher = o.teacher;
  s.schedule.write(s.dir / "schedule.json");
  return s;
}

}  // namespace asdm
