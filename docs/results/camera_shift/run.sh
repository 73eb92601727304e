#!/bin/bash
# space 0 seen through another camera, with the product's collect camera and colour calibration (demo scale)
set -e
cd "$(dirname "$0")/../.."  # the repository root; needs the make demo run in runs/demo (its external heads)
export OMP_NUM_THREADS=1
CAM="camera.white_balance=[1.15,1.0,0.75] camera.gamma=0.7 camera.blur=0.8 camera.noise=0.03"
O=runs/cam0
T=runs/demo/transfer/synth0
.venv/bin/tst collect scene=synth split=pretrain frames=1024 "extras=[]" scene.seed=0 resolution=64 logger=none $CAM progress=false out=$O/data/pretrain
.venv/bin/tst collect scene=synth split=eval frames=96 "extras=[caption]" scene.seed=0 resolution=64 logger=none $CAM progress=false out=$O/data/eval
.venv/bin/tst pretrain data=$O/data/pretrain model=tst_vit_test objective=multimae "modalities=[rgb,depth,normal]" seed=0 steps=800 batch_size=32 image_size=64 warmup=20 logger=none preview_every=0 log_every=100 objective.dec_dim=64 objective.dec_depth=1 objective.dec_heads=2 progress=false out=$O/pretrain
.venv/bin/tst transfer task=semseg data=runs/demo/data/external vocab=$O/data/eval init=$O/pretrain/export model=tst_vit_test seed=0 batch_size=16 image_size=64 warmup=20 val_fraction=0.1 logger=none log_every=100 steps=500 self_train.data=$O/data/pretrain self_train.steps=0 progress=false out=$O/tst
for init in tst other scratch; do
  src=$T/$init/$([ $init = scratch ] && echo none || echo multimae)/semseg/seed0
  .venv/bin/tst deploy "heads=[$src]" data=$O/data/eval out=$O/deploy_raw_$init logger=none overlays=0 space_map=false progress=false 2>&1 | tail -1
done
.venv/bin/tst deploy "heads=[$O/tst]" data=$O/data/eval out=$O/deploy_tst logger=none overlays=4 progress=false 2>&1 | tail -1
for init in other scratch; do  # the control: the same calibration (and map) for heads that never saw the space
  src=$T/$init/$([ $init = scratch ] && echo none || echo multimae)/semseg/seed0; dst=$O/cal_$init
  rm -rf $dst; cp -r $src $dst; rm -f $dst/metrics.json
  cmd=$(python3 -c "import json;print(json.load(open('$src/provenance.json'))['command'])" | sed 's/^tst-transfer //; s/ out=[^ ]*//')
  .venv/bin/tst transfer $cmd resume=true self_train.data=$O/data/pretrain self_train.steps=0 progress=false out=$dst 2>&1 | tail -1
  .venv/bin/tst deploy "heads=[$dst]" data=$O/data/eval out=$O/deploy_cal_$init logger=none overlays=0 progress=false 2>&1 | tail -1
done
