"""Simulated supplier world: the seeded hotel world and three supplier HTTP services (A, B, C)."""
