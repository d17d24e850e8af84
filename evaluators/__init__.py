"""Evaluators: the data layer and the training/evaluation of candidate networks."""
