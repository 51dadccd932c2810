"""Changing a trained model and watching: model surgery, evaluation, channel triage."""
