"""tst deploy's own options (debug=tiny), found through hydra.searchpath in configs/deploy.yaml."""
