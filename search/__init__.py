"""Orchestration: the Optuna/Ray Tune search over genomes, and the reports and plots rebuilt from its study."""
