"""Promotion: backtests against real traffic, the label gate's decision, and moving a label on that evidence.

Imports `plg.evals` (to evaluate a candidate), `plg.log.history` (to replay requests) and
`plg.registry` (to move labels); nothing here imports `plg.ci` or `plg.cli`.
"""
