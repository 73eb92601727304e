"""tst sweep: the grid -> job graph, the launcher choice, and a real sweep with a deliberately failing
job (kept out of the others' results, marked in the table) and a re-run that executes nothing new."""

import json
import os

import pytest
from omegaconf import OmegaConf

from tst.pipeline import Grid, Objective, compose_config, grid_from_config, is_done, plan_jobs
from tst.sweep import make_launcher, run


def test_plan_shares_upstream_runs_and_wires_the_inits(tmp_path):
    grid = Grid(scenes=(0, 1), inits=("tst", "scratch", "other2", "space1"), seeds=(0, 1), tasks=("semseg", "det"),
                objectives={"mae": Objective("mae", ("rgb",)), "mm": Objective("multimae", ("rgb", "depth", "edges"))})
    jobs = {j.name: j for j in plan_jobs(grid, tmp_path)}
    transfers = [j for j in jobs.values() if j.stage == "transfer"]
    # (2 scenes x (2 pretrained inits x 2 objectives + scratch) + space1's own 2 objectives) x 2 seeds x 2 tasks;
    # space1 on synth0 deploys the synth1 heads
    assert len(transfers) == (2 * (2 * 2 + 1) + 2) * 2 * 2
    # one pretraining per (data source, objective, seed): synth0, synth1, other2 -> 3 x 2 x 2
    assert sum(j.stage == "pretrain" for j in jobs.values()) == 12
    t = jobs["transfer/synth1/space1/mm/det/seed1"]
    assert f"init={tmp_path}/pretrain/synth1/mm/seed1/export" in t.overrides and f"val={tmp_path}/data/synth1/eval" in t.overrides
    assert t.deps == ("data/external", "data/synth1/eval", "pretrain/synth1/mm/seed1")
    assert jobs["deploy/synth0/space1/mm/seed1"].deps == (
        "data/synth0/eval", "transfer/synth1/space1/mm/semseg/seed1", "transfer/synth1/space1/mm/det/seed1")
    assert "init=scratch" in jobs["transfer/synth1/scratch/none/semseg/seed0"].overrides
    other = jobs["data/other2"].overrides
    assert "external_seeds=[1000,1001]" in other and "split=external" in other and "extras=[edges]" in other
    assert "modalities=[rgb,depth,edges]" in jobs["pretrain/synth0/mm/seed0"].overrides
    names = list(jobs)
    assert all(names.index(d) < names.index(j.name) for j in jobs.values() for d in j.deps)  # upstream first


def test_deploy_scores_each_cell_when_asked(tmp_path):
    jobs = {j.name: j for j in plan_jobs(Grid(inits=("tst",), deploy=True), tmp_path)}
    dep = jobs["deploy/synth0/tst/multimae/seed0"]
    assert dep.deps[1:] == tuple(f"transfer/synth0/tst/multimae/{t}/seed0" for t in ("semseg", "det", "caption"))
    assert not any(o.startswith("val=") for o in jobs["transfer/synth0/tst/multimae/det/seed0"].overrides)


def test_oracle_trains_on_labelled_views_of_the_test_space_from_the_tst_encoder(tmp_path):
    from tst.pipeline import ORACLE_POSE_SEED

    jobs = {j.name: j for j in plan_jobs(Grid(scenes=(3,), inits=("tst", "oracle"), tasks=("semseg",)), tmp_path)}
    lab = jobs["data/synth3/labelled"].overrides
    ev = jobs["data/synth3/eval"].overrides
    # the test space's labels, as many views as the external set, posed with another seed than the eval views
    assert {"split=eval", "scene.seed=3", f"frames={Grid.frames_external}", f"seed={ORACLE_POSE_SEED}"} <= set(lab)
    assert not any(o.startswith("seed=") for o in ev)
    oracle = jobs["transfer/synth3/oracle/multimae/semseg/seed0"]
    assert f"data={tmp_path}/data/synth3/labelled" in oracle.overrides
    assert f"init={tmp_path}/pretrain/synth3/multimae/seed0/export" in oracle.overrides  # the tst encoder, shared
    assert f"data={tmp_path}/data/external" in jobs["transfer/synth3/tst/multimae/semseg/seed0"].overrides
    assert "data/synth3/labelled" not in {d for j in jobs.values() if "oracle" not in j.name for d in j.deps}
    assert "data/synth3/labelled" not in {j.name for j in plan_jobs(Grid(scenes=(3,)), tmp_path)}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"inits": ("tsst",)}, "'tsst' is not an init"),
    ({"inits": ("other5",)}, "needs 5 external spaces"),
    ({"scenes": (1000,)}, "also in external_seeds"),
    ({"tasks": ("pose",)}, r"tasks: \['pose'\] unknown"),  # depth is a task now (tst.tasks)
    ({"head_steps": {"segsem": 5}}, r"head_steps: \['segsem'\] are not tasks"),  # would train at the default steps
    ({"self_train": {"det": ()}}, r"self_train: \['det'\] cannot self-train; tasks that can: \['semseg'\]"),
    ({"scenes": ("room0",)}, r"scenes: 'room0' is neither a procedural seed .* add \"grid.spaces=\{room0:\['scene=…'"),
    ({"spaces": {"synth4": ("scene=replica",)}}, r"spaces: 'synth4' cannot name a test space"),
    ({"spaces": {"my room": ("scene=replica",)}}, r"spaces: 'my room' cannot name a test space"),
    ({"spaces": {"room0": ("scene.path=/data/room0",)}}, r"spaces.room0: .* does not say which scene to load"),
])
def test_bad_grid_fails_early(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Grid(**kwargs)


def test_a_named_space_is_collected_with_its_own_scene_overrides(tmp_path):
    room = ("scene=replica", "scene.path=/data/replica/room_0")
    grid = Grid(scenes=(3, "room0"), spaces={"room0": room}, inits=("tst", "scratch", "other", "oracle"),
                tasks=("semseg",), self_train={"semseg": ("self_train.steps=2",)})
    jobs = {j.name: j for j in plan_jobs(grid, tmp_path)}
    for split, want in (("eval", set()), ("pretrain", {"split=pretrain"}), ("labelled", {"seed=7919"})):
        o = jobs[f"data/room0/{split}"].overrides
        assert set(room) | want <= set(o)  # the scan's own scene, not the procedural one
        assert not any(x.startswith(("scene=synth", "scene.seed=")) for x in o)
    assert {"scene=synth", "scene.seed=3"} <= set(jobs["data/synth3/eval"].overrides)  # seeds as before
    t = jobs["transfer/room0/tst/multimae/semseg/seed0"]
    assert f"init={tmp_path}/pretrain/room0/multimae/seed0/export" in t.overrides
    assert f"val={tmp_path}/data/room0/eval" in t.overrides and f"vocab={tmp_path}/data/room0/eval" in t.overrides
    assert f"self_train.data={tmp_path}/data/room0/pretrain" in t.overrides  # its map: the scan's own views
    assert jobs["pretrain/room0/multimae/seed0"].deps == ("data/room0/pretrain",)
    oracle = jobs["transfer/room0/oracle/multimae/semseg/seed0"]
    assert f"data={tmp_path}/data/room0/labelled" in oracle.overrides
    # the other-spaces baseline is the same procedural pretraining for both test spaces
    assert jobs["transfer/room0/other/multimae/semseg/seed0"].deps[-1] == "pretrain/other3/multimae/seed0"
    assert jobs["transfer/synth3/other/multimae/semseg/seed0"].deps[-1] == "pretrain/other3/multimae/seed0"
    assert grid_from_config({"scenes": [3, "room0"], "spaces": {"room0": list(room)}}).spaces == {"room0": room}


def test_only_the_tst_head_self_trains_on_its_own_space_views(tmp_path):
    grid = Grid(scenes=(3,), inits=("tst", "scratch", "other", "oracle"), tasks=("semseg", "det"),
                self_train={"semseg": ("self_train.steps=7",)})
    jobs = {j.name: j for j in plan_jobs(grid, tmp_path)}
    tst = jobs["transfer/synth3/tst/multimae/semseg/seed0"]
    assert f"self_train.data={tmp_path}/data/synth3/pretrain" in tst.overrides and "self_train.steps=7" in tst.overrides
    assert "data/synth3/pretrain" in tst.deps
    others = [j for n, j in jobs.items() if j.stage == "transfer" and n != tst.name]
    assert len(others) == 7 and not any(o.startswith("self_train") for j in others for o in j.overrides)


def test_a_matrix_row_is_tst_for_its_own_space_and_deploys_its_head_elsewhere(tmp_path):
    grid = Grid(scenes=(0, 1), inits=("space0", "space1", "space5"), tasks=("semseg",), self_train={"semseg": ()})
    jobs = {j.name: j for j in plan_jobs(grid, tmp_path)}
    heads = sorted(n for n in jobs if n.startswith("transfer/"))
    assert heads == ["transfer/synth0/space0/multimae/semseg/seed0", "transfer/synth0/space5/multimae/semseg/seed0",
                     "transfer/synth1/space1/multimae/semseg/seed0", "transfer/synth1/space5/multimae/semseg/seed0"]
    for i in (0, 1, 5):  # each head: space i's encoder, self-trained on space i's views
        for h in (n for n in heads if f"/space{i}/" in n):
            assert f"self_train.data={tmp_path}/data/synth{i}/pretrain" in jobs[h].overrides
            assert f"init={tmp_path}/pretrain/synth{i}/multimae/seed0/export" in jobs[h].overrides
    # off the diagonal, space i's own head (trained once) is deployed on space j's eval views
    for j, i in ((0, 1), (1, 0)):
        d = jobs[f"deploy/synth{j}/space{i}/multimae/seed0"]
        head = f"transfer/synth{i}/space{i}/multimae/semseg/seed0"
        assert f"heads=[{tmp_path}/{head}]" in d.overrides and f"data={tmp_path}/data/synth{j}/eval" in d.overrides
        assert head in d.deps and d.params == {"scene": j, "init": f"space{i}", "objective": "multimae", "seed": 0,
                                               "tasks": ["semseg"]}
    assert sum(j.stage == "deploy" for j in jobs.values()) == 2  # space5 is in no column: trained per column


def test_task_inits_train_a_task_for_the_listed_inits_only(tmp_path):
    grid = Grid(scenes=(3,), inits=("tst", "scratch", "other", "oracle"), tasks=("semseg", "det"), seeds=(0, 1),
                task_inits={"det": ("tst", "other")}, deploy=True)
    jobs = {j.name for j in plan_jobs(grid, tmp_path)}
    det = sorted(n for n in jobs if n.startswith("transfer/") and "/det/" in n)
    assert det == [f"transfer/synth3/{i}/multimae/det/seed{s}" for i in ("other", "tst") for s in (0, 1)]
    assert sum(n.startswith("transfer/") and "/semseg/" in n for n in jobs) == 8  # semseg keeps every init
    assert sum(n.startswith("deploy/") for n in jobs) == 8  # each cell still deploys its heads
    cfg = compose_config("sweep", ["grid.tasks=[semseg,det]", "grid.task_inits={det:[tst,other]}"])  # the CLI form
    assert grid_from_config(OmegaConf.to_container(cfg, resolve=True)["grid"]).task_inits == {"det": ("tst", "other")}
    for bad, match in [({"captoin": ("tst",)}, "task_inits: 'captoin' is not a task"),
                       ({"det": ("tts",)}, r"task_inits.det: \['tts'\] are not inits"),
                       ({"det": ("space7",)}, r"task_inits.det: \['space7'\] leaves none of inits \['tst', 'other'\]"),
                       ({"det": ()}, "leaves none")]:
        with pytest.raises(ValueError, match=match):
            Grid(inits=("tst", "other"), tasks=("semseg", "det"), task_inits=bad)
    # the demo's restrictions of tasks and inits a run leaves out are moot: `grid.tasks=[semseg]` still plans
    moot = Grid(inits=("tst", "scratch"), tasks=("semseg", "det"), task_inits={"det": ("tst", "oracle"), "caption": ("tst",)})
    names = {j.name for j in plan_jobs(moot, tmp_path)}
    assert "transfer/synth0/tst/multimae/det/seed0" in names and "transfer/synth0/scratch/none/det/seed0" not in names
    assert not any("caption" in n or "oracle" in n for n in names)


@pytest.mark.slow
def test_adding_self_train_extends_the_finished_tst_head_only(tmp_path, capsys):
    first = run(compose_config("sweep", [*TINY, f"out={tmp_path}", "grid.self_train={}"]))
    assert first["sweep/failed"] == 0
    tst_run = tmp_path / "transfer/synth0/tst/multimae/semseg/seed0"
    capsys.readouterr()
    again = run(compose_config("sweep", [*TINY, f"out={tmp_path}", "grid.self_train={semseg:['self_train.steps=2']}"]))
    assert (again["sweep/ok"], again["sweep/failed"]) == (1, 0)  # the scratch head and every upstream job: done
    log = (tmp_path / "logs" / "transfer__synth0__tst__multimae__semseg__seed0.log").read_text()
    assert "self_train step" in log and "step      1 |" not in log  # continued from its checkpoint, not retrained
    assert json.loads((tst_run / "metrics.json").read_text())["self_train/steps"] == 2


@pytest.mark.slow
def test_a_matrix_sweep_fills_every_cell_from_two_heads(tmp_path):
    cfg = compose_config("sweep", [*TINY, f"out={tmp_path}", "analysis=matrix", "grid.scenes=[0,1]",
                                   "grid.inits=[space0,space1]", "grid.self_train={semseg:['self_train.steps=1']}"])
    out = run(cfg)
    assert out["sweep/failed"] == 0 and out["sweep/blocked"] == 0
    assert sorted(p.parent.parent.parent.name for p in tmp_path.glob("transfer/*/*/*/*/seed0")) == ["space0", "space1"]
    report = json.loads((tmp_path / "report.json").read_text())
    off = json.loads((tmp_path / "deploy/synth1/space0/multimae/seed0/metrics.json").read_text())["semseg/mIoU"]
    own = json.loads((tmp_path / "transfer/synth0/space0/multimae/semseg/seed0/metrics.json").read_text())
    assert report["matrix"][0] == [pytest.approx(own["semseg/mIoU"]), pytest.approx(off)]  # row: space 0's head
    assert own["self_train/steps"] == 1 and "semseg/map_mIoU" in own  # self-trained on its own space, its map scored


def test_unknown_launcher_kind_fails_with_the_choices(tmp_path):
    with pytest.raises(ValueError, match="launcher.kind='pbs' is unknown; choose local, slurm or inline"):
        make_launcher("pbs", tmp_path, {})


TINY = ["resolution=32", "frames.pretrain=8", "frames.eval=4", "frames.external=8", "steps.pretrain=1",
        "steps.semseg=1", "steps.self_train=1", "steps.det=1", "steps.caption=1", "steps.depth=1", "batch_size.pretrain=2", "batch_size.transfer=2", "batch_size.det=2", "grid.tasks=[semseg]",
        "grid.inits=[scratch,tst]", "grid.seeds=[0]", "grid.model=tst_vit_test", "grid.external_seeds=[1000]", "jobs=2",
        "grid.transfer_task.semseg=['task.head=linear']"]


@pytest.mark.slow
def test_sweep_keeps_results_past_a_failed_job_and_reruns_nothing_finished(tmp_path, capsys):
    objectives = "grid.objectives={mae:{objective:mae,modalities:[rgb]},broken:{objective:no_such_objective}}"
    cfg = compose_config("sweep", [*TINY, objectives, f"out={tmp_path}"])
    first = run(cfg)
    # 3 collects, 1 pretraining + 2 transfers ran; the broken pretraining failed and blocked its transfer
    assert (first["sweep/ok"], first["sweep/failed"], first["sweep/blocked"], first["sweep/done"]) == (6, 1, 1, 0)
    status = {j["name"]: j for j in json.loads((tmp_path / "sweep.json").read_text())["jobs"]}
    assert "no_such_objective" in status["pretrain/synth0/broken/seed0"]["error"]
    assert (tmp_path / "logs" / "pretrain__synth0__broken__seed0.log").is_file()
    ok_run = tmp_path / "transfer/synth0/tst/mae/semseg/seed0"
    miou = json.loads((ok_run / "metrics.json").read_text())["semseg/mIoU"]
    md = (tmp_path / "results.md").read_text()
    assert f"| 0 | tst | mae | {miou:.2f} (n=1) |" in md and "| 0 | tst | broken | FAILED |" in md
    assert "blocked: tst/broken/semseg seed 0" in md

    stamp = (ok_run / "metrics.json").stat().st_mtime_ns
    capsys.readouterr()
    again = run(cfg)  # finished jobs are skipped; only the failed one is tried again
    assert (again["sweep/done"], again["sweep/ok"], again["sweep/failed"], again["sweep/blocked"]) == (6, 0, 1, 1)
    assert (ok_run / "metrics.json").stat().st_mtime_ns == stamp
    out = capsys.readouterr().out
    assert "pretrain pretrain/synth0/broken/seed0" in out and "transfer transfer/" not in out

    # a changed setting is not "finished": the transfer job with more steps must run again
    job = next(j for j in plan_jobs(_grid(cfg), tmp_path) if j.name == "transfer/synth0/tst/mae/semseg/seed0")
    assert is_done(job, tmp_path)
    cfg2 = compose_config("sweep", [*TINY, objectives, f"out={tmp_path}", "steps.semseg=2"])
    job2 = next(j for j in plan_jobs(_grid(cfg2), tmp_path) if j.name == job.name)
    assert not is_done(job2, tmp_path)

    # an upstream run newer than a finished job makes it stale (make's rule): only the tst transfer,
    # whose pretraining "re-ran", runs again, replacing its old result
    pre = tmp_path / "pretrain/synth0/mae/seed0/metrics.json"
    later = (ok_run / "metrics.json").stat().st_mtime + 1.0
    os.utime(pre, (later, later))
    capsys.readouterr()
    third = run(cfg)
    assert (third["sweep/ok"], third["sweep/done"], third["sweep/failed"]) == (1, 5, 1)
    assert "transfer transfer/synth0/tst/mae/semseg/seed0 ... (an upstream run is newer" in capsys.readouterr().out
    assert (ok_run / "metrics.json").stat().st_mtime_ns > stamp and (ok_run / "metrics.json").stat().st_mtime > later


@pytest.mark.slow
def test_a_sweep_runs_on_a_scan_named_in_spaces(tmp_path):
    from tests.envs.fixtures import make_box_room, write_replica_fixture

    scan = write_replica_fixture(make_box_room(width=4.5, scene_id="scan"), tmp_path / "replica_room")
    cfg = compose_config("sweep", [*TINY, f"out={tmp_path / 'sweep'}", "analysis=gain", "grid.scenes=[room0]",
                                   f"grid.spaces={{room0:['scene=replica','scene.path={scan}']}}",
                                   "grid.self_train={semseg:['self_train.steps=1']}"])
    out = run(cfg)
    assert (out["sweep/ok"], out["sweep/failed"], out["sweep/blocked"]) == (6, 0, 0)  # 3 collects, pretrain, 2 heads
    root = tmp_path / "sweep"
    manifest = json.loads((root / "data/room0/eval/manifest.json").read_text())
    assert "replica" in json.dumps(manifest).lower() and not (root / "data/synth0").exists()
    tst_head = json.loads((root / "transfer/room0/tst/multimae/semseg/seed0/metrics.json").read_text())
    assert tst_head["self_train/steps"] == 1 and tst_head["semseg/map_coverage"] > 0  # its map: the scan itself
    report = (root / "report.md").read_text()
    assert "room0" in report and "chance" in report


def _grid(cfg):
    from tst.pipeline import grid_from_config

    return grid_from_config(OmegaConf.to_container(cfg, resolve=True)["grid"])


def test_ddp_pretraining_jobs_run_through_torchrun():
    """ddp > 1 turns pretraining jobs (only them) into a torchrun launch that really starts N processes."""
    import subprocess
    import sys

    from tst.sweep import stage_command

    assert stage_command("transfer", ["x=1"], ddp=2) == [sys.executable, "-m", "tst.cli", "transfer", "x=1"]
    cmd = stage_command("pretrain", ["--help"], ddp=2)
    assert cmd[:5] == [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.count("Powered by Hydra") == 2  # the pretrain stage's help, once per process
    with pytest.raises(ValueError, match="ddp=0"):
        stage_command("pretrain", [], ddp=0)


@pytest.mark.slow
def test_a_depth_task_runs_in_a_sweep_scored_by_deploy(tmp_path):
    """grid.tasks=[semseg,depth] at toy size: depth heads train, deploy scores them, the tables carry depth/*."""
    tiny = [o for o in TINY if not o.startswith(("grid.tasks", "grid.inits"))]
    cfg = compose_config("sweep", [*tiny, "grid.tasks=[semseg,depth]", "grid.inits=[scratch]", "grid.deploy=true",
                                   "grid.transfer_task.depth=['task.head=linear']", f"out={tmp_path}"])
    res = run(cfg)
    assert (res["sweep/ok"], res["sweep/failed"], res["sweep/blocked"]) == (5, 0, 0)  # 2 collects, 2 heads, deploy
    scored = json.loads((tmp_path / "deploy/synth0/scratch/none/seed0/metrics.json").read_text())
    assert scored["depth/AbsRel"] >= 0 and scored["depth/RMSE"] >= 0 and 0 <= scored["depth/delta1"] <= 100
    md = (tmp_path / "results.md").read_text()
    header = md.splitlines()[0]
    assert "semseg/mIoU" in header and "depth/AbsRel" in header and "depth/delta1" in header
    assert f"{scored['depth/AbsRel']:.2f} (n=1)" in md


def test_ready_jobs_start_in_critical_path_order(tmp_path):
    """One core, the demo's shape: the other-spaces collection and its pretraining (five jobs wait on them)
    start before the scratch head that nothing waits on, though the plan lists that head first."""
    from tst.pipeline import Job
    from tst.sweep import execute, first_on_critical_path

    jobs = [Job("ext", "collect", ()), Job("scratch", "transfer", (), deps=("ext",)),
            Job("other_data", "collect", (), deps=("ext",)), Job("other_pre", "pretrain", (), deps=("other_data",)),
            *[Job(f"other_{t}", "transfer", (), deps=("ext", "other_pre")) for t in ("semseg", "det", "caption")]]
    started = []

    def launch(job, argv, log):
        started.append(job.name)
        job.out(tmp_path).mkdir(parents=True, exist_ok=True)

    out = execute(jobs, tmp_path, launch, parallel=1, echo=lambda line: None)
    assert all(o.status == "ok" for o in out.values())
    assert started == ["ext", "other_data", "other_pre", "scratch", "other_semseg", "other_det", "other_caption"]
    # ties keep the plan's order; a job never precedes what it needs
    assert [j.name for j in first_on_critical_path(jobs[1:2] + jobs[5:])] == ["scratch", "other_det", "other_caption"]
