"""Fault-injection tests: real processes, real signals, real databases; every test joins the
ledger its handlers write with the store's final state (``checker.check``) and writes the
figures to ``test-artifacts/faults/<test>-<backend>.json``."""
