"""tst collect's own options (debug=tiny), found through hydra.searchpath in configs/collect.yaml."""
