"""Forløp's pure domain model: the rule catalogue, date arithmetic and the aggregates.

Nothing in this package does I/O; it imports neither the store, the API, the workers nor any driver.
"""
