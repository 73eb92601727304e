"""tst transfer's own options (debug=tiny), found through hydra.searchpath in configs/transfer.yaml."""
