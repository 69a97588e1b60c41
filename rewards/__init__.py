"""Rewarded snapshots (有奖随手拍): campaigns, an append-only money ledger, WeChat Pay payouts."""
