"""tst pretrain's own options (debug=tiny), found through hydra.searchpath in configs/pretrain.yaml."""
